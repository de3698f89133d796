// 2-D convolution and pooling (include/kiln/nn/conv.h) for kiln.nn.functional: conv2d with
// numeric or 'same'/'valid' padding, max_pool2d (with indices), avg_pool2d. Sizes may be an int
// or a pair, as in torch.
#include "kiln/nn/conv.h"

#include "bindings.h"
#include "shape_args.h"

namespace kiln::python {

namespace {

namespace F = kiln::nn::functional;

// An int or a pair of ints, as torch's _pair(); `what` names the argument in errors.
F::Size2 pair_arg(nb::handle v, const char* what) {
  std::vector<int64_t> xs = int_list_from_object(v, what);
  if (xs.size() == 1) return {xs[0], xs[0]};
  KILN_CHECK_VALUE(xs.size() == 2, what, ": expected an int or a pair of ints, got ", xs.size(),
                   " values");
  return {xs[0], xs[1]};
}

// torch's stride default: None or an empty sequence means "the kernel size" ({0, 0} below).
F::Size2 stride_arg(nb::handle v) {
  if (v.is_none()) return {0, 0};
  if ((PyTuple_Check(v.ptr()) || PyList_Check(v.ptr())) && nb::len(v) == 0) return {0, 0};
  return pair_arg(v, "stride");
}

}  // namespace

void bind_conv(nb::module_& m) {
  nb::module_ c = m.def_submodule("_conv");
  c.def(
      "conv2d",
      [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias, nb::handle stride,
         nb::handle padding, nb::handle dilation, int64_t groups) {
        Tensor b = bias.value_or(Tensor());
        if (nb::isinstance<nb::str>(padding)) {
          return F::conv2d(input, weight, b, pair_arg(stride, "conv2d stride"),
                           F::PaddingMode(nb::cast<std::string>(padding)),
                           pair_arg(dilation, "conv2d dilation"), groups);
        }
        return F::conv2d(input, weight, b, pair_arg(stride, "conv2d stride"),
                         pair_arg(padding, "conv2d padding"), pair_arg(dilation, "conv2d dilation"),
                         groups);
      },
      "input"_a, "weight"_a, nb::arg("bias").none() = nb::none(), "stride"_a = 1, "padding"_a = 0,
      "dilation"_a = 1, "groups"_a = 1);
  c.def(
      "max_pool2d",
      [](const Tensor& input, nb::handle kernel_size, nb::handle stride, nb::handle padding,
         nb::handle dilation, bool ceil_mode, bool return_indices) -> nb::object {
        auto args = std::make_tuple(pair_arg(kernel_size, "max_pool2d kernel_size"),
                                    stride_arg(stride), pair_arg(padding, "max_pool2d padding"),
                                    pair_arg(dilation, "max_pool2d dilation"));
        if (return_indices) {
          auto [values, indices] =
              F::max_pool2d_with_indices(input, std::get<0>(args), std::get<1>(args),
                                         std::get<2>(args), std::get<3>(args), ceil_mode);
          return nb::make_tuple(values, indices);
        }
        return nb::cast(F::max_pool2d(input, std::get<0>(args), std::get<1>(args),
                                      std::get<2>(args), std::get<3>(args), ceil_mode));
      },
      "input"_a, "kernel_size"_a, nb::arg("stride").none() = nb::none(), "padding"_a = 0,
      "dilation"_a = 1, "ceil_mode"_a = false, "return_indices"_a = false);
  c.def(
      "avg_pool2d",
      [](const Tensor& input, nb::handle kernel_size, nb::handle stride, nb::handle padding,
         bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
        return F::avg_pool2d(input, pair_arg(kernel_size, "avg_pool2d kernel_size"),
                             stride_arg(stride), pair_arg(padding, "avg_pool2d padding"), ceil_mode,
                             count_include_pad, divisor_override);
      },
      "input"_a, "kernel_size"_a, nb::arg("stride").none() = nb::none(), "padding"_a = 0,
      "ceil_mode"_a = false, "count_include_pad"_a = true,
      nb::arg("divisor_override").none() = nb::none());
}

}  // namespace kiln::python
