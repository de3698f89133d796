// safetensors files for kiln.save / kiln.load (kiln/serialization.py flattens Python objects to
// named tensors plus string metadata and back). A file is written atomically by the C++ writer
// (temporary file, fsync, rename); the bytes Python reads are fully validated before anything
// is returned.
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "kiln/io/safetensors.h"

namespace kiln::python {

namespace {

using Metadata = std::map<std::string, std::string>;

StateDict make_state(const std::vector<std::string>& names, const std::vector<Tensor>& tensors,
                     const Metadata& metadata) {
  KILN_CHECK_VALUE(names.size() == tensors.size(), "safetensors: got ", names.size(), " names for ",
                   tensors.size(), " tensors");
  StateDict state;
  for (size_t i = 0; i < names.size(); ++i) {
    KILN_CHECK_VALUE(!state.contains(names[i]), "safetensors: the tensor name '", names[i],
                     "' is used twice");
    state.insert(names[i], tensors[i]);
  }
  state.metadata() = metadata;
  return state;
}

// (names, tensors, metadata), tensors in the file's order.
nb::tuple unpack_state(const StateDict& state) {
  std::vector<std::string> names;
  std::vector<Tensor> tensors;
  for (const auto& [name, t] : state) {
    names.push_back(name);
    tensors.push_back(t);
  }
  return nb::make_tuple(names, tensors, state.metadata());
}

}  // namespace

void bind_io(nb::module_& m) {
  m.def(
      "_save_safetensors",
      [](const std::string& path, const std::vector<std::string>& names,
         const std::vector<Tensor>& tensors, const Metadata& metadata) {
        save_safetensors(path, make_state(names, tensors, metadata));
      },
      "path"_a, "names"_a, "tensors"_a, "metadata"_a);
  m.def(
      "_serialize_safetensors",
      [](const std::vector<std::string>& names, const std::vector<Tensor>& tensors,
         const Metadata& metadata) {
        std::string bytes = serialize_safetensors(make_state(names, tensors, metadata));
        return nb::bytes(bytes.data(), bytes.size());
      },
      "names"_a, "tensors"_a, "metadata"_a);
  m.def(
      "_deserialize_safetensors",
      [](nb::bytes data, const std::string& source) {
        return unpack_state(
            deserialize_safetensors(std::string_view(data.c_str(), data.size()), source));
      },
      "data"_a, "source"_a);
}

}  // namespace kiln::python
