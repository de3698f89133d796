// kiln.memory_format: one singleton per format (kiln.contiguous_format, kiln.channels_last,
// kiln.channels_last_3d, kiln.preserve_format), as torch's, compared by identity.
#include <array>
#include <string>

#include "memory_format_arg.h"

namespace kiln::python {

namespace {

struct MemoryFormatObject {
  MemoryFormat value;
};

constexpr std::array<MemoryFormat, 4> kFormats{MemoryFormat::Contiguous, MemoryFormat::ChannelsLast,
                                               MemoryFormat::ChannelsLast3d,
                                               MemoryFormat::Preserve};

}  // namespace

void bind_memory_format(nb::module_& m) {
  nb::class_<MemoryFormatObject>(m, "memory_format")
      .def("__repr__",
           [](const MemoryFormatObject& f) {
             return std::string("kiln.") + memory_format_name(f.value);
           })
      // Pickled by name: the singleton of that name in kiln._C comes back.
      .def("__reduce__",
           [](const MemoryFormatObject& f) { return std::string(memory_format_name(f.value)); });
  // The module owns the singletons for the life of the interpreter.
  for (MemoryFormat f : kFormats) m.attr(memory_format_name(f)) = nb::cast(MemoryFormatObject{f});
}

std::optional<MemoryFormat> memory_format_arg(nb::handle obj, const char* op) {
  if (obj.is_none()) return std::nullopt;
  if (nb::isinstance<MemoryFormatObject>(obj))
    return nb::cast<const MemoryFormatObject&>(obj).value;
  throw kiln::TypeError(detail::concat(op, ": memory_format must be a kiln.memory_format, got ",
                                       python_type_name(obj)));
}

}  // namespace kiln::python
