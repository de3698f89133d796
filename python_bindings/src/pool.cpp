// The rest of the pooling family (include/kiln/nn/pooling.h) for kiln.nn.functional, as the
// `_C._pool` submodule: max_pool1d / avg_pool1d, adaptive_avg_pool1d/2d, adaptive_max_pool2d
// and max_unpool2d. Sizes may be an int or a tuple, as in torch; adaptive output sizes may hold
// None (keep that input size).
#include "bindings.h"
#include "kiln/nn/pooling.h"
#include "shape_args.h"

namespace kiln::python {

namespace {

namespace F = kiln::nn::functional;

// An int or a one-element sequence, as torch's _single().
int64_t single_arg(nb::handle v, const char* what) {
  std::vector<int64_t> xs = int_list_from_object(v, what);
  KILN_CHECK_VALUE(xs.size() == 1, what, ": expected an int or a single int, got ", xs.size(),
                   " values");
  return xs[0];
}

// None or an empty sequence means "the kernel size" (0 below).
int64_t stride1_arg(nb::handle v, const char* what) {
  if (v.is_none()) return 0;
  if ((PyTuple_Check(v.ptr()) || PyList_Check(v.ptr())) && nb::len(v) == 0) return 0;
  return single_arg(v, what);
}

F::Size2 pair_arg(nb::handle v, const char* what) {
  std::vector<int64_t> xs = int_list_from_object(v, what);
  if (xs.size() == 1) return {xs[0], xs[0]};
  KILN_CHECK_VALUE(xs.size() == 2, what, ": expected an int or a pair of ints, got ", xs.size(),
                   " values");
  return {xs[0], xs[1]};
}

F::Size2 stride2_arg(nb::handle v, const char* what) {
  if (v.is_none()) return {0, 0};
  if ((PyTuple_Check(v.ptr()) || PyList_Check(v.ptr())) && nb::len(v) == 0) return {0, 0};
  return pair_arg(v, what);
}

// An int, or a pair whose entries may be None (-1 below: keep the input size).
F::Size2 adaptive_arg(nb::handle v, const char* what) {
  if (PyTuple_Check(v.ptr()) || PyList_Check(v.ptr())) {
    KILN_CHECK_VALUE(nb::len(v) == 2, what, ": expected an int or a pair, got ", nb::len(v),
                     " values");
    F::Size2 out{};
    for (size_t d = 0; d < 2; ++d) {
      nb::handle e = v[d];
      out[d] = e.is_none() ? -1 : single_arg(e, what);
    }
    return out;
  }
  const int64_t s = single_arg(v, what);
  return {s, s};
}

}  // namespace

void bind_pool(nb::module_& m) {
  nb::module_ c = m.def_submodule("_pool");
  c.def(
      "max_pool1d",
      [](const Tensor& input, nb::handle kernel_size, nb::handle stride, nb::handle padding,
         nb::handle dilation, bool ceil_mode, bool return_indices) -> nb::object {
        const int64_t k = single_arg(kernel_size, "max_pool1d kernel_size");
        const int64_t s = stride1_arg(stride, "max_pool1d stride");
        const int64_t p = single_arg(padding, "max_pool1d padding");
        const int64_t d = single_arg(dilation, "max_pool1d dilation");
        if (return_indices) {
          auto [values, indices] = F::max_pool1d_with_indices(input, k, s, p, d, ceil_mode);
          return nb::make_tuple(values, indices);
        }
        return nb::cast(F::max_pool1d(input, k, s, p, d, ceil_mode));
      },
      "input"_a, "kernel_size"_a, nb::arg("stride").none() = nb::none(), "padding"_a = 0,
      "dilation"_a = 1, "ceil_mode"_a = false, "return_indices"_a = false);
  c.def(
      "avg_pool1d",
      [](const Tensor& input, nb::handle kernel_size, nb::handle stride, nb::handle padding,
         bool ceil_mode, bool count_include_pad) {
        return F::avg_pool1d(input, single_arg(kernel_size, "avg_pool1d kernel_size"),
                             stride1_arg(stride, "avg_pool1d stride"),
                             single_arg(padding, "avg_pool1d padding"), ceil_mode,
                             count_include_pad);
      },
      "input"_a, "kernel_size"_a, nb::arg("stride").none() = nb::none(), "padding"_a = 0,
      "ceil_mode"_a = false, "count_include_pad"_a = true);
  c.def(
      "adaptive_avg_pool1d",
      [](const Tensor& input, nb::handle output_size) {
        return F::adaptive_avg_pool1d(input,
                                      single_arg(output_size, "adaptive_avg_pool1d output_size"));
      },
      "input"_a, "output_size"_a);
  c.def(
      "adaptive_avg_pool2d",
      [](const Tensor& input, nb::handle output_size) {
        return F::adaptive_avg_pool2d(input,
                                      adaptive_arg(output_size, "adaptive_avg_pool2d output_size"));
      },
      "input"_a, "output_size"_a);
  c.def(
      "adaptive_max_pool2d",
      [](const Tensor& input, nb::handle output_size, bool return_indices) -> nb::object {
        const F::Size2 out = adaptive_arg(output_size, "adaptive_max_pool2d output_size");
        if (return_indices) {
          auto [values, indices] = F::adaptive_max_pool2d_with_indices(input, out);
          return nb::make_tuple(values, indices);
        }
        return nb::cast(F::adaptive_max_pool2d(input, out));
      },
      "input"_a, "output_size"_a, "return_indices"_a = false);
  c.def(
      "max_unpool2d",
      [](const Tensor& input, const Tensor& indices, nb::handle kernel_size, nb::handle stride,
         nb::handle padding, nb::handle output_size) {
        std::optional<std::vector<int64_t>> out;
        if (!output_size.is_none())
          out = int_list_from_object(output_size, "max_unpool2d output_size");
        return F::max_unpool2d(input, indices, pair_arg(kernel_size, "max_unpool2d kernel_size"),
                               stride2_arg(stride, "max_unpool2d stride"),
                               pair_arg(padding, "max_unpool2d padding"), out);
      },
      "input"_a, "indices"_a, "kernel_size"_a, nb::arg("stride").none() = nb::none(),
      "padding"_a = 0, nb::arg("output_size").none() = nb::none());
}

}  // namespace kiln::python
