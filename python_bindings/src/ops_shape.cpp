// Shape ops as functions (their method forms are in tensor.cpp), joining and splitting, and the
// matrix products. The index ops are in ops_index.cpp.
#include "op_binding.h"
#include "ops/op_common.h"
#include "shape_args.h"

namespace kiln::python {

void bind_ops_shape(nb::module_& m, nb::class_<Tensor>& cls) {
  // ---- views as functions ----
  m.def(
      "reshape",
      [](const Tensor& x, nb::handle shape) {
        return reshape(x, int_list_from_object(shape, "reshape"));
      },
      "input"_a, "shape"_a);
  m.def(
      "permute",
      [](const Tensor& x, nb::handle dims) {
        return permute(x, int_list_from_object(dims, "permute"));
      },
      "input"_a, "dims"_a);
  m.def(
      "broadcast_to",
      [](const Tensor& x, nb::handle size) {
        return broadcast_to(x, int_list_from_object(size, "broadcast_to"));
      },
      "input"_a, "size"_a);
  cls.def("broadcast_to", [](const Tensor& x, nb::handle size) {
    return broadcast_to(x, int_list_from_object(size, "broadcast_to"));
  });
  m.def("transpose", &transpose, "input"_a, "dim0"_a, "dim1"_a);
  m.def("swapaxes", &transpose, "input"_a, "axis0"_a, "axis1"_a);
  m.def(
      "t", [](const Tensor& x) { return x.t(); }, "input"_a);
  m.def("narrow", &narrow, "input"_a, "dim"_a, "start"_a, "length"_a);
  m.def("select", &select, "input"_a, "dim"_a, "index"_a);
  m.def("squeeze", &squeeze, "input"_a, nb::arg("dim").none() = nb::none());
  m.def("unsqueeze", &unsqueeze, "input"_a, "dim"_a);
  m.def("flatten", &flatten, "input"_a, "start_dim"_a = 0, "end_dim"_a = -1);
  m.def("clone", &clone, "input"_a);

  // ---- joining and splitting ----
  for (const char* name : {"cat", "concat"}) {
    m.def(name, &cat, "tensors"_a, "dim"_a = 0);
  }
  m.def("stack", &stack, "tensors"_a, "dim"_a = 0);
  auto split_any = [](const Tensor& x, nb::handle size_or_sections, int64_t dim) {
    if (PyIndex_Check(size_or_sections.ptr())) {
      return tuple_of(split(x, int_list_from_object(size_or_sections, "split")[0], dim));
    }
    return tuple_of(split(x, int_list_from_object(size_or_sections, "split"), dim));
  };
  m.def("split", split_any, "tensor"_a, "split_size_or_sections"_a, "dim"_a = 0);
  cls.def("split", split_any, "split_size"_a, "dim"_a = 0);
  def_function_and_method(
      m, cls, "chunk",
      [](const Tensor& x, int64_t chunks, int64_t dim) { return tuple_of(chunk(x, chunks, dim)); },
      "chunks"_a, "dim"_a = 0);
  def_function_and_method(
      m, cls, "unbind",
      [](const Tensor& x, int64_t dim) {
        dim = wrap_dim("unbind", dim, x.shape());
        std::vector<Tensor> parts;
        for (int64_t i = 0; i < x.size(dim); ++i) parts.push_back(select(x, dim, i));
        return tuple_of(parts);
      },
      "dim"_a = 0);

  // ---- matrix products ----
  def_function_and_method(m, cls, "matmul", &matmul, "other"_a);
  def_function_and_method(m, cls, "mm", &mm, "mat2"_a);
  def_function_and_method(m, cls, "bmm", &bmm, "mat2"_a);
  def_function_and_method(m, cls, "outer", &outer, "vec2"_a);
  def_function_and_method(m, cls, "dot", &dot, "other"_a);
  m.def(
      "linear",
      [](const Tensor& x, const Tensor& weight, std::optional<Tensor> bias) {
        return linear(x, weight, bias.value_or(Tensor()));
      },
      "input"_a, "weight"_a, nb::arg("bias").none() = nb::none());
}

}  // namespace kiln::python
