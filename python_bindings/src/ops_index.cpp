// The index ops as functions and methods: index_select, index_add, gather, scatter,
// scatter_add, masked_fill, nonzero / argwhere / where(condition), embedding and one_hot.
// (x[...] is tensor_indexing.cpp; the in-place forms are tensor_inplace.cpp.)
#include "kiln/indexing.h"
#include "op_binding.h"

namespace kiln::python {

void bind_ops_index(nb::module_& m, nb::class_<Tensor>& cls) {
  def_function_and_method(m, cls, "index_select", &index_select, "dim"_a, "index"_a);
  def_function_and_method(m, cls, "index_add", &index_add, "dim"_a, "index"_a, "source"_a,
                          nb::kw_only(), "alpha"_a = 1);
  def_function_and_method(m, cls, "gather", &gather, "dim"_a, "index"_a);
  def_function_and_method(
      m, cls, "scatter",
      [](const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
        return scatter(x, dim, index, src);
      },
      "dim"_a, "index"_a, "src"_a);
  def_function_and_method(
      m, cls, "scatter",
      [](const Tensor& x, int64_t dim, const Tensor& index, Scalar value) {
        return scatter(x, dim, index, value);
      },
      "dim"_a, "index"_a, "value"_a);
  def_function_and_method(m, cls, "scatter_add", &scatter_add, "dim"_a, "index"_a, "src"_a);
  def_function_and_method(
      m, cls, "masked_fill",
      [](const Tensor& x, const Tensor& mask, const Tensor& v) { return masked_fill(x, mask, v); },
      "mask"_a, "value"_a);
  def_function_and_method(
      m, cls, "masked_fill",
      [](const Tensor& x, const Tensor& mask, Scalar v) { return masked_fill(x, mask, v); },
      "mask"_a, "value"_a);

  def_function_and_method(
      m, cls, "nonzero",
      [](const Tensor& x, bool as_tuple) -> nb::object {
        if (as_tuple) return tuple_of(nonzero_tuple(x));
        return nb::cast(nonzero(x));
      },
      nb::kw_only(), "as_tuple"_a = false);
  def_function_and_method(m, cls, "argwhere", &nonzero);
  // where(condition) alone is nonzero(condition, as_tuple=True), as in torch.
  m.def(
      "where", [](const Tensor& c) { return tuple_of(nonzero_tuple(c)); }, "condition"_a);

  // torch.embedding(weight, indices, ...): the options that only change the gradient's form are
  // not implemented.
  m.def(
      "embedding",
      [](const Tensor& weight, const Tensor& indices, int64_t padding_idx, bool scale_grad_by_freq,
         bool sparse) {
        if (padding_idx != -1 || scale_grad_by_freq || sparse) {
          raise_not_implemented(
              "embedding: padding_idx, scale_grad_by_freq and sparse are not implemented");
        }
        return embedding(weight, indices);
      },
      "weight"_a, "indices"_a, "padding_idx"_a = -1, "scale_grad_by_freq"_a = false,
      "sparse"_a = false);
  m.def("one_hot", &one_hot, "tensor"_a, "num_classes"_a = -1);
}

}  // namespace kiln::python
