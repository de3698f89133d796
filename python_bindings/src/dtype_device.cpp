// kiln.dtype (one singleton per element type: kiln.float32, ...) and kiln.device.
#include <array>
#include <string>

#include "kiln/info.h"
#include "op_binding.h"

namespace kiln::python {

namespace {

struct DTypeObject {
  DType value;
};

// Owned references, deliberately never released: the singletons live as long as the
// interpreter, and dropping them at exit would run after Python is finalised.
std::array<PyObject*, kNumDTypes> g_dtypes{};

}  // namespace

PyObject* dtype_object(DType t) { return g_dtypes[size_t(t)]; }

bool dtype_from_object(PyObject* o, DType& out) {
  if (nb::isinstance<DTypeObject>(nb::handle(o))) {
    out = nb::inst_ptr<DTypeObject>(nb::handle(o))->value;
    return true;
  }
  // Python's own types, as torch accepts them: float -> float64, int -> int64, bool -> bool.
  if (o == reinterpret_cast<PyObject*>(&PyFloat_Type)) {
    out = DType::Float64;
    return true;
  }
  if (o == reinterpret_cast<PyObject*>(&PyLong_Type)) {
    out = DType::Int64;
    return true;
  }
  if (o == reinterpret_cast<PyObject*>(&PyBool_Type)) {
    out = DType::Bool;
    return true;
  }
  return false;
}

std::optional<Device> device_arg(nb::handle device, const char* op) {
  if (device.is_none()) return std::nullopt;
  if (nb::isinstance<Device>(device)) return nb::cast<Device>(device);
  if (nb::isinstance<nb::str>(device)) return Device(nb::cast<std::string>(device));
  if (PyLong_Check(device.ptr()) && !PyBool_Check(device.ptr())) {
    return Device("cuda:" + nb::cast<std::string>(nb::str(device)));
  }
  throw kiln::TypeError(detail::concat(op, ": expected a device (kiln.device, str or int), got ",
                                       python_type_name(device)));
}

void bind_dtype_device(nb::module_& m) {
  nb::class_<DTypeObject>(m, "dtype")
      .def_prop_ro("is_floating_point", [](const DTypeObject& d) { return is_floating(d.value); })
      .def_prop_ro(
          "is_signed",
          [](const DTypeObject& d) { return d.value != DType::Bool && d.value != DType::UInt8; })
      .def_prop_ro("itemsize", [](const DTypeObject& d) { return element_size(d.value); })
      .def("__repr__",
           [](const DTypeObject& d) { return std::string("kiln.") + dtype_name(d.value); })
      .def("__reduce__", [](const DTypeObject& d) { return std::string(dtype_name(d.value)); });

  // torch's names, aliases included (kiln.float == kiln.float32, kiln.long == kiln.int64).
  struct Alias {
    const char* name;
    DType t;
  };
  const Alias names[] = {
      {"bool", DType::Bool},       {"uint8", DType::UInt8},   {"int32", DType::Int32},
      {"int", DType::Int32},       {"int64", DType::Int64},   {"long", DType::Int64},
      {"float16", DType::Float16}, {"half", DType::Float16},  {"bfloat16", DType::BFloat16},
      {"float32", DType::Float32}, {"float", DType::Float32}, {"float64", DType::Float64},
      {"double", DType::Float64},
  };
  for (int i = 0; i < kNumDTypes; ++i) {
    g_dtypes[size_t(i)] = nb::cast(DTypeObject{DType(i)}).release().ptr();
  }
  for (const Alias& a : names) m.attr(a.name) = nb::handle(dtype_object(a.t));

  // Promotion queries with torch's names.
  m.def("promote_types", &promote_types, "type1"_a, "type2"_a);
  m.def(
      "can_cast",
      [](DType from, DType to) {
        if (is_floating(from) && !is_floating(to)) return false;
        return from == DType::Bool || to != DType::Bool;
      },
      "from_"_a, "to"_a);
  m.def("get_default_dtype", []() { return kDefaultFloat; });

  // GPUs this build can use (0 without the CUDA backend or a driver).
  m.def("_cuda_device_count", []() { return int(build_info().devices.size()) - 1; });

  nb::class_<Device>(m, "device")
      .def(nb::init_implicit<const std::string&>(), "type"_a)
      .def(
          "__init__",
          [](Device* self, const std::string& type, int index) {
            new (self) Device(type + ":" + std::to_string(index));
          },
          "type"_a, "index"_a)
      .def_prop_ro("type", [](const Device& d) { return d.is_cpu() ? "cpu" : "cuda"; })
      .def_prop_ro("index",
                   [](const Device& d) -> nb::object {
                     if (d.is_cpu()) return nb::none();
                     return nb::int_(d.index);
                   })
      .def("__eq__", [](const Device& a, const Device& b) { return a == b; })
      .def("__eq__", [](const Device&, nb::handle) { return false; })
      .def("__hash__", [](const Device& d) { return std::hash<std::string>()(d.str()); })
      .def("__str__", &Device::str)
      .def("__repr__", [](const Device& d) {
        return d.is_cpu() ? std::string("device(type='cpu')")
                          : "device(type='cuda', index=" + std::to_string(d.index) + ")";
      });
}

}  // namespace kiln::python
