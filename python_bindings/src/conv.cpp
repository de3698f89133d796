// Convolution and 2-D pooling (include/kiln/nn/conv.h) for kiln.nn.functional, as the `_C._conv`
// submodule: conv1d/2d/3d with numeric or 'same'/'valid' padding, conv_transpose1d/2d,
// max_pool2d (with indices), avg_pool2d. Sizes may be an int or a tuple of one int per spatial
// dim, as in torch.
#include "kiln/nn/conv.h"

#include <array>
#include <string>

#include "bindings.h"
#include "shape_args.h"

namespace kiln::python {

namespace {

namespace F = kiln::nn::functional;

template <size_t N>
using Sizes = std::array<int64_t, N>;

// An int, or a sequence of one int (repeated) or N ints, as torch's _single / _pair / _triple
// and its IntArrayRef[N] arguments; `what` names the op and the argument in errors.
template <size_t N>
Sizes<N> sizes_arg(nb::handle v, const char* what) {
  std::vector<int64_t> xs = int_list_from_object(v, what);
  Sizes<N> out{};
  if (xs.size() == 1) {
    out.fill(xs[0]);
    return out;
  }
  KILN_CHECK_VALUE(xs.size() == N, what, ": expected an int or ", N, " ints, got ", xs.size(),
                   " values");
  for (size_t d = 0; d < N; ++d) out[d] = xs[d];
  return out;
}

// torch's pooling stride default: None or an empty sequence means "the kernel size" ({0, 0}).
F::Size2 stride_arg(nb::handle v) {
  if (v.is_none()) return {0, 0};
  if ((PyTuple_Check(v.ptr()) || PyList_Check(v.ptr())) && nb::len(v) == 0) return {0, 0};
  return sizes_arg<2>(v, "stride");
}

// The parsed arguments of conv{1,2,3}d: padding is either numbers or a name ('same'/'valid').
template <size_t N>
struct ConvArgs {
  Sizes<N> stride{}, padding{}, dilation{};
  std::optional<F::PaddingMode> padding_mode;
};

template <size_t N>
ConvArgs<N> conv_args(const std::string& op, nb::handle stride, nb::handle padding,
                      nb::handle dilation) {
  ConvArgs<N> a;
  a.stride = sizes_arg<N>(stride, (op + " stride").c_str());
  a.dilation = sizes_arg<N>(dilation, (op + " dilation").c_str());
  if (nb::isinstance<nb::str>(padding)) {
    a.padding_mode = F::PaddingMode(nb::cast<std::string>(padding));
  } else {
    a.padding = sizes_arg<N>(padding, (op + " padding").c_str());
  }
  return a;
}

// conv_transpose1d runs conv_transpose2d over a unit height. The arguments are checked here
// first, so that errors name conv_transpose1d and the 1-D shapes rather than the 2-D views.
void check_conv_transpose1d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                            int64_t stride, int64_t padding, int64_t output_padding, int64_t groups,
                            int64_t dilation) {
  KILN_CHECK_VALUE(input.dim() == 2 || input.dim() == 3,
                   "conv_transpose1d: expected a 2-D (unbatched) or 3-D (batched) input, got "
                   "shape ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(weight.dim() == 3,
                   "conv_transpose1d: expected a 3-D weight [in_channels, out_channels / groups, "
                   "kernel], got shape ",
                   shape_str(weight.shape()));
  KILN_CHECK_VALUE(groups > 0, "conv_transpose1d: groups must be positive, got ", groups);
  KILN_CHECK_VALUE(stride > 0 && dilation > 0 && padding >= 0 && output_padding >= 0,
                   "conv_transpose1d: stride and dilation must be positive and padding and "
                   "output_padding non-negative, got stride=",
                   stride, ", padding=", padding, ", output_padding=", output_padding,
                   ", dilation=", dilation);
  const int64_t channels = input.size(input.dim() - 2);
  KILN_CHECK_VALUE(channels == weight.size(0), "conv_transpose1d: input has ", channels,
                   " channels but weight expects ", weight.size(0), " (groups=", groups,
                   "); input ", shape_str(input.shape()), ", weight ", shape_str(weight.shape()));
  KILN_CHECK_VALUE(channels % groups == 0, "conv_transpose1d: input channels ", channels,
                   " are not divisible by groups=", groups);
  KILN_CHECK_VALUE(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(1) * groups),
                   "conv_transpose1d: expected a bias of shape [", weight.size(1) * groups,
                   "], got ", bias.defined() ? shape_str(bias.shape()) : std::string("none"));
  KILN_CHECK_VALUE(output_padding < stride || output_padding < dilation,
                   "conv_transpose1d: output padding must be smaller than either stride or "
                   "dilation, got output_padding ",
                   output_padding, ", stride ", stride, ", dilation ", dilation);
  const int64_t length = input.size(input.dim() - 1);
  const int64_t out =
      (length - 1) * stride - 2 * padding + dilation * (weight.size(2) - 1) + output_padding + 1;
  KILN_CHECK_VALUE(out >= 1, "conv_transpose1d: output size ", out, " is too small (input ", length,
                   ", kernel ", weight.size(2), ", stride ", stride, ", padding ", padding,
                   ", dilation ", dilation, ", output_padding ", output_padding, ")");
}

void bind_convolutions(nb::module_& c) {
  c.def(
      "conv1d",
      [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias, nb::handle stride,
         nb::handle padding, nb::handle dilation, int64_t groups) {
        const ConvArgs<1> a = conv_args<1>("conv1d", stride, padding, dilation);
        const Tensor b = bias.value_or(Tensor());
        if (a.padding_mode) {
          return F::conv1d(input, weight, b, a.stride[0], *a.padding_mode, a.dilation[0], groups);
        }
        return F::conv1d(input, weight, b, a.stride[0], a.padding[0], a.dilation[0], groups);
      },
      "input"_a, "weight"_a, nb::arg("bias").none() = nb::none(), "stride"_a = 1, "padding"_a = 0,
      "dilation"_a = 1, "groups"_a = 1);
  c.def(
      "conv2d",
      [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias, nb::handle stride,
         nb::handle padding, nb::handle dilation, int64_t groups) {
        const ConvArgs<2> a = conv_args<2>("conv2d", stride, padding, dilation);
        const Tensor b = bias.value_or(Tensor());
        if (a.padding_mode) {
          return F::conv2d(input, weight, b, a.stride, *a.padding_mode, a.dilation, groups);
        }
        return F::conv2d(input, weight, b, a.stride, a.padding, a.dilation, groups);
      },
      "input"_a, "weight"_a, nb::arg("bias").none() = nb::none(), "stride"_a = 1, "padding"_a = 0,
      "dilation"_a = 1, "groups"_a = 1);
  c.def(
      "conv3d",
      [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias, nb::handle stride,
         nb::handle padding, nb::handle dilation, int64_t groups) {
        const ConvArgs<3> a = conv_args<3>("conv3d", stride, padding, dilation);
        const Tensor b = bias.value_or(Tensor());
        if (a.padding_mode) {
          return F::conv3d(input, weight, b, a.stride, *a.padding_mode, a.dilation, groups);
        }
        return F::conv3d(input, weight, b, a.stride, a.padding, a.dilation, groups);
      },
      "input"_a, "weight"_a, nb::arg("bias").none() = nb::none(), "stride"_a = 1, "padding"_a = 0,
      "dilation"_a = 1, "groups"_a = 1);
  c.def(
      "conv_transpose2d",
      [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias, nb::handle stride,
         nb::handle padding, nb::handle output_padding, int64_t groups, nb::handle dilation) {
        return F::conv_transpose2d(input, weight, bias.value_or(Tensor()),
                                   sizes_arg<2>(stride, "conv_transpose2d stride"),
                                   sizes_arg<2>(padding, "conv_transpose2d padding"),
                                   sizes_arg<2>(output_padding, "conv_transpose2d output_padding"),
                                   groups, sizes_arg<2>(dilation, "conv_transpose2d dilation"));
      },
      "input"_a, "weight"_a, nb::arg("bias").none() = nb::none(), "stride"_a = 1, "padding"_a = 0,
      "output_padding"_a = 0, "groups"_a = 1, "dilation"_a = 1);
  c.def(
      "conv_transpose1d",
      [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias, nb::handle stride,
         nb::handle padding, nb::handle output_padding, int64_t groups, nb::handle dilation) {
        const Tensor b = bias.value_or(Tensor());
        const int64_t s = sizes_arg<1>(stride, "conv_transpose1d stride")[0];
        const int64_t p = sizes_arg<1>(padding, "conv_transpose1d padding")[0];
        const int64_t op = sizes_arg<1>(output_padding, "conv_transpose1d output_padding")[0];
        const int64_t d = sizes_arg<1>(dilation, "conv_transpose1d dilation")[0];
        check_conv_transpose1d(input, weight, b, s, p, op, groups, d);
        // [.., C, L] -> [.., C, 1, L]: the unit height with stride/dilation 1 and no padding
        // leaves the output height at 1.
        return F::conv_transpose2d(input.unsqueeze(-2), weight.unsqueeze(-2), b, {1, s}, {0, p},
                                   {0, op}, groups, {1, d})
            .squeeze(-2);
      },
      "input"_a, "weight"_a, nb::arg("bias").none() = nb::none(), "stride"_a = 1, "padding"_a = 0,
      "output_padding"_a = 0, "groups"_a = 1, "dilation"_a = 1);
}

void bind_pooling(nb::module_& c) {
  c.def(
      "max_pool2d",
      [](const Tensor& input, nb::handle kernel_size, nb::handle stride, nb::handle padding,
         nb::handle dilation, bool ceil_mode, bool return_indices) -> nb::object {
        const F::Size2 kernel = sizes_arg<2>(kernel_size, "max_pool2d kernel_size");
        const F::Size2 step = stride_arg(stride);
        const F::Size2 pad = sizes_arg<2>(padding, "max_pool2d padding");
        const F::Size2 dil = sizes_arg<2>(dilation, "max_pool2d dilation");
        if (return_indices) {
          auto [values, indices] =
              F::max_pool2d_with_indices(input, kernel, step, pad, dil, ceil_mode);
          return nb::make_tuple(values, indices);
        }
        return nb::cast(F::max_pool2d(input, kernel, step, pad, dil, ceil_mode));
      },
      "input"_a, "kernel_size"_a, nb::arg("stride").none() = nb::none(), "padding"_a = 0,
      "dilation"_a = 1, "ceil_mode"_a = false, "return_indices"_a = false);
  c.def(
      "avg_pool2d",
      [](const Tensor& input, nb::handle kernel_size, nb::handle stride, nb::handle padding,
         bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
        return F::avg_pool2d(input, sizes_arg<2>(kernel_size, "avg_pool2d kernel_size"),
                             stride_arg(stride), sizes_arg<2>(padding, "avg_pool2d padding"),
                             ceil_mode, count_include_pad, divisor_override);
      },
      "input"_a, "kernel_size"_a, nb::arg("stride").none() = nb::none(), "padding"_a = 0,
      "ceil_mode"_a = false, "count_include_pad"_a = true,
      nb::arg("divisor_override").none() = nb::none());
}

}  // namespace

void bind_conv(nb::module_& m) {
  nb::module_ c = m.def_submodule("_conv");
  bind_convolutions(c);
  bind_pooling(c);
}

}  // namespace kiln::python
