// conv1d, conv2d, conv3d and conv_transpose2d (include/kiln/nn/conv.h; PyTorch 1.13 semantics)
// over the convolution ops of src/ops/conv.h. This layer owns what the ops leave to it: the
// argument checks with torch-like messages, unbatched inputs, 'same' / 'valid' padding (an even
// kernel's asymmetric 'same' pads the input's far side by one with `pad` and runs a symmetric
// convolution), the bias (a broadcast add whose backward is a sum), and the transposed
// convolution as the data gradient of a convolution.
#include <array>
#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/memory_format.h"
#include "kiln/nn/conv.h"
#include "kiln/nn/resample.h"
#include "kiln/ops.h"
#include "nn/functional_common.h"
#include "nn/functional_window.h"
#include "ops/conv.h"

namespace kiln::nn::functional {

using detail::describe;

namespace {

using Sizes = std::vector<int64_t>;

// What differs between conv1d, conv2d, conv3d and conv_transpose2d.
struct ConvKind {
  const char* op;
  int spatial;
  const char* input_layout;   // "3-D [C, H, W] or 4-D [N, C, H, W]"
  const char* weight_layout;  // "[out_channels, in_channels / groups, kH, kW]"
  bool transposed = false;
};

constexpr ConvKind kConv1d{"conv1d", 1, "2-D [C, L] or 3-D [N, C, L]",
                           "[out_channels, in_channels / groups, kL]"};
constexpr ConvKind kConv2d{"conv2d", 2, "3-D [C, H, W] or 4-D [N, C, H, W]",
                           "[out_channels, in_channels / groups, kH, kW]"};
constexpr ConvKind kConv3d{"conv3d", 3, "4-D [C, D, H, W] or 5-D [N, C, D, H, W]",
                           "[out_channels, in_channels / groups, kD, kH, kW]"};
constexpr ConvKind kConvTranspose2d{"conv_transpose2d", 2, "3-D [C, H, W] or 4-D [N, C, H, W]",
                                    "[in_channels, out_channels / groups, kH, kW]", true};

// "3x3"; with `collapse`, "3" when every entry is equal.
std::string sizes_str(const Sizes& v, bool collapse = false) {
  bool equal = true;
  for (int64_t e : v) equal = equal && e == v[0];
  if (collapse && equal) return std::to_string(v[0]);
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "x" : "") + std::to_string(v[i]);
  return s;
}

template <size_t N>
Sizes sizes(const std::array<int64_t, N>& a) {
  return {a.begin(), a.end()};
}

bool all_at_least(const Sizes& v, int64_t m) {
  for (int64_t e : v)
    if (e < m) return false;
  return true;
}

// The last `spatial` dims of `shape`.
Sizes spatial_of(const Shape& shape, int spatial) { return {shape.end() - spatial, shape.end()}; }

// Checks shared by every convolution; `channels_per_group` is weight.size(1) for a
// convolution and weight.size(0) / groups for a transposed one.
void check_args(const ConvKind& k, const Tensor& input, const Tensor& weight, const Tensor& bias,
                const Sizes& stride, const Sizes& dilation, int64_t groups) {
  detail::check_defined(k.op, input, "input");
  detail::check_defined(k.op, weight, "weight");
  KILN_CHECK_TYPE(input.is_floating_point(), k.op, ": expected a floating point input, got ",
                  describe(input));
  KILN_CHECK_TYPE(
      weight.dtype() == input.dtype() && (!bias.defined() || bias.dtype() == input.dtype()), k.op,
      ": expected input, weight and bias to have the same dtype, got input ",
      dtype_name(input.dtype()), ", weight ", dtype_name(weight.dtype()),
      bias.defined() ? std::string(", bias ") + dtype_name(bias.dtype()) : "");
  KILN_CHECK_VALUE(
      weight.device() == input.device() && (!bias.defined() || bias.device() == input.device()),
      k.op, ": expected input, weight and bias on the same device, got input on ",
      input.device().str(), ", weight on ", weight.device().str(),
      bias.defined() ? ", bias on " + bias.device().str() : "");
  const int64_t dims = k.spatial + 2;
  KILN_CHECK_VALUE(input.dim() == dims - 1 || input.dim() == dims, k.op, ": expected a ",
                   k.input_layout, " input, got ", shape_str(input.shape()));
  KILN_CHECK_VALUE(weight.dim() == dims, k.op, ": expected a ", dims, "-D weight ", k.weight_layout,
                   ", got ", shape_str(weight.shape()));
  KILN_CHECK_VALUE(weight.numel() > 0, k.op, ": weight ", shape_str(weight.shape()), " is empty");
  bool nonempty = true;
  for (int64_t d = 1; d <= k.spatial + 1; ++d) nonempty = nonempty && input.size(-d) > 0;
  KILN_CHECK_VALUE(nonempty, k.op, ": expected non-empty channel and spatial dims, got input ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(groups >= 1, k.op, ": groups must be positive, got ", groups);
  KILN_CHECK_VALUE(all_at_least(stride, 1), k.op, ": stride must be positive, got ",
                   sizes_str(stride));
  KILN_CHECK_VALUE(all_at_least(dilation, 1), k.op, ": dilation must be positive, got ",
                   sizes_str(dilation));
  const int64_t channels = input.size(-(k.spatial + 1));
  // A convolution's weight is [OC, C / groups, ...]; a transposed one's [C, OC / groups, ...].
  const int64_t w_out = k.transposed ? weight.size(1) * groups : weight.size(0);
  const int64_t w_in = k.transposed ? weight.size(0) : weight.size(1) * groups;
  if (k.transposed)
    KILN_CHECK_VALUE(weight.size(0) % groups == 0, k.op, ": weight ", shape_str(weight.shape()),
                     " has ", weight.size(0),
                     " input channels, which is not divisible by groups=", groups);
  else
    KILN_CHECK_VALUE(weight.size(0) % groups == 0, k.op, ": weight ", shape_str(weight.shape()),
                     " has ", weight.size(0),
                     " output channels, which is not divisible by groups=", groups);
  KILN_CHECK_VALUE(channels == w_in, k.op, ": input has ", channels,
                   " channels but weight expects ", w_in, " (groups=", groups, "); input ",
                   shape_str(input.shape()), ", weight ", shape_str(weight.shape()));
  if (bias.defined())
    KILN_CHECK_VALUE(bias.dim() == 1 && bias.size(0) == w_out, k.op, ": expected a bias of shape [",
                     w_out, "] for weight ", shape_str(weight.shape()), ", got ",
                     shape_str(bias.shape()));
}

// y + bias over dim 1, keeping y's memory format: a channels-last y gets the bias added in its
// storage order [N, spatial..., C], so the sum (a new tensor) is channels-last too.
Tensor add_bias(const Tensor& y, const Tensor& bias) {
  if (!bias.defined()) return y;
  const int64_t dims = y.dim();
  if (suggest_memory_format(y) == MemoryFormat::Contiguous) {
    Shape b{bias.size(0)};
    b.resize(size_t(dims - 1), 1);
    return add(y, reshape(bias, b));
  }
  std::vector<int64_t> to_storage{0}, to_logical{0, dims - 1};
  for (int64_t d = 2; d < dims; ++d) to_storage.push_back(d);
  to_storage.push_back(1);
  for (int64_t d = 1; d < dims - 1; ++d) to_logical.push_back(d);
  return permute(add(permute(y, to_storage), bias), to_logical);
}

ConvGeometry geometry(int spatial, const Sizes& stride, const Sizes& padding, const Sizes& dilation,
                      int64_t groups) {
  ConvGeometry g;
  g.spatial = spatial;
  for (size_t i = 0; i < size_t(spatial); ++i) {
    g.stride[i] = stride[i];
    g.padding[i] = padding[i];
    g.dilation[i] = dilation[i];
  }
  g.groups = groups;
  return g;
}

// A convolution with `before` / `after` padding per spatial dim; `padding_desc` describes the
// padding in errors.
Tensor conv_impl(const ConvKind& k, const Tensor& input, const Tensor& weight, const Tensor& bias,
                 const Sizes& stride, const Sizes& before, const Sizes& after,
                 const std::string& padding_desc, const Sizes& dilation, int64_t groups) {
  check_args(k, input, weight, bias, stride, dilation, groups);
  const Sizes in = spatial_of(input.shape(), k.spatial);
  const Sizes kernel = spatial_of(weight.shape(), k.spatial);
  Sizes out(in.size());
  for (size_t i = 0; i < in.size(); ++i)
    out[i] =
        detail::conv_output_size(in[i], before[i] + after[i], kernel[i], stride[i], dilation[i]);
  KILN_CHECK_VALUE(all_at_least(out, 1), k.op, ": output size ", sizes_str(out),
                   " is too small (input ", sizes_str(in), ", kernel ", sizes_str(kernel),
                   ", stride ", sizes_str(stride, true), ", padding ", padding_desc, ", dilation ",
                   sizes_str(dilation, true), ")");

  const bool batched = input.dim() == k.spatial + 2;
  Tensor x = batched ? input : unsqueeze(input, 0);
  // The part of the padding beyond the symmetric one ('same' with an even kernel) is added to
  // the input; pad() takes the last dim first.
  std::vector<int64_t> extra;
  bool asymmetric = false;
  for (size_t i = in.size(); i-- > 0;) {
    extra.push_back(0);
    extra.push_back(after[i] - before[i]);
    asymmetric = asymmetric || after[i] != before[i];
  }
  if (asymmetric) x = pad(x, extra);
  Tensor y =
      add_bias(convolution(x, weight, geometry(k.spatial, stride, before, dilation, groups)), bias);
  return batched ? y : squeeze(y, 0);
}

Tensor conv_numeric(const ConvKind& k, const Tensor& input, const Tensor& weight,
                    const Tensor& bias, const Sizes& stride, const Sizes& padding,
                    const Sizes& dilation, int64_t groups) {
  KILN_CHECK_VALUE(all_at_least(padding, 0), k.op, ": padding must be non-negative, got ",
                   sizes_str(padding));
  return conv_impl(k, input, weight, bias, stride, padding, padding, sizes_str(padding, true),
                   dilation, groups);
}

Tensor conv_mode(const ConvKind& k, const Tensor& input, const Tensor& weight, const Tensor& bias,
                 const Sizes& stride, const PaddingMode& padding, const Sizes& dilation,
                 int64_t groups) {
  const Sizes zero(size_t(k.spatial), 0);
  if (padding.name == "valid")
    return conv_impl(k, input, weight, bias, stride, zero, zero, "'valid'", dilation, groups);
  KILN_CHECK_VALUE(padding.name == "same", k.op, ": padding must be 'same' or 'valid', got '",
                   padding.name, "'");
  KILN_CHECK_VALUE(stride == Sizes(stride.size(), 1), k.op,
                   ": padding='same' is not supported for strided convolutions (stride ",
                   sizes_str(stride), ")");
  // Checked here too: the padding below reads the weight's kernel size.
  detail::check_defined(k.op, weight, "weight");
  KILN_CHECK_VALUE(weight.dim() == k.spatial + 2, k.op, ": expected a ", k.spatial + 2,
                   "-D weight ", k.weight_layout, ", got ", shape_str(weight.shape()));
  KILN_CHECK_VALUE(all_at_least(dilation, 1), k.op, ": dilation must be positive, got ",
                   sizes_str(dilation));
  // Total dilation * (kernel - 1) per dim, the odd element after, as PyTorch.
  Sizes before(zero), after(zero);
  for (size_t i = 0; i < size_t(k.spatial); ++i) {
    const int64_t total = dilation[i] * (weight.size(int64_t(i) + 2) - 1);
    before[i] = total / 2;
    after[i] = total - total / 2;
  }
  return conv_impl(k, input, weight, bias, stride, before, after, "'same'", dilation, groups);
}

}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, int64_t stride,
              int64_t padding, int64_t dilation, int64_t groups) {
  return conv_numeric(kConv1d, input, weight, bias, {stride}, {padding}, {dilation}, groups);
}

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, int64_t stride,
              const PaddingMode& padding, int64_t dilation, int64_t groups) {
  return conv_mode(kConv1d, input, weight, bias, {stride}, padding, {dilation}, groups);
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size2 stride,
              Size2 padding, Size2 dilation, int64_t groups) {
  return conv_numeric(kConv2d, input, weight, bias, sizes(stride), sizes(padding), sizes(dilation),
                      groups);
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size2 stride,
              const PaddingMode& padding, Size2 dilation, int64_t groups) {
  return conv_mode(kConv2d, input, weight, bias, sizes(stride), padding, sizes(dilation), groups);
}

Tensor conv3d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size3 stride,
              Size3 padding, Size3 dilation, int64_t groups) {
  return conv_numeric(kConv3d, input, weight, bias, sizes(stride), sizes(padding), sizes(dilation),
                      groups);
}

Tensor conv3d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size3 stride,
              const PaddingMode& padding, Size3 dilation, int64_t groups) {
  return conv_mode(kConv3d, input, weight, bias, sizes(stride), padding, sizes(dilation), groups);
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size2 stride,
                        Size2 padding, Size2 output_padding, int64_t groups, Size2 dilation) {
  const ConvKind& k = kConvTranspose2d;
  check_args(k, input, weight, bias, sizes(stride), sizes(dilation), groups);
  KILN_CHECK_VALUE(all_at_least(sizes(padding), 0), k.op, ": padding must be non-negative, got ",
                   sizes_str(sizes(padding)));
  KILN_CHECK_VALUE(all_at_least(sizes(output_padding), 0), k.op,
                   ": output_padding must be non-negative, got ", sizes_str(sizes(output_padding)));
  for (size_t i = 0; i < 2; ++i)
    KILN_CHECK_VALUE(output_padding[i] < stride[i] || output_padding[i] < dilation[i], k.op,
                     ": output padding must be smaller than either stride or dilation, got "
                     "output_padding ",
                     sizes_str(sizes(output_padding)), ", stride ", sizes_str(sizes(stride)),
                     ", dilation ", sizes_str(sizes(dilation)));
  const Sizes in = spatial_of(input.shape(), 2), kernel = spatial_of(weight.shape(), 2);
  Sizes out(2);
  for (size_t i = 0; i < 2; ++i)
    out[i] = (in[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (kernel[i] - 1) +
             output_padding[i] + 1;
  KILN_CHECK_VALUE(all_at_least(out, 1), k.op, ": output size ", sizes_str(out),
                   " is too small (input ", sizes_str(in), ", kernel ", sizes_str(kernel),
                   ", stride ", sizes_str(sizes(stride), true), ", padding ",
                   sizes_str(sizes(padding), true), ", dilation ", sizes_str(sizes(dilation), true),
                   ", output_padding ", sizes_str(sizes(output_padding), true), ")");

  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : unsqueeze(input, 0);
  const int64_t n = x.size(0), c_out = weight.size(1) * groups;
  Tensor y;
  if (output_padding[0] < stride[0] && output_padding[1] < stride[1]) {
    // The data gradient of the convolution of a [N, C_out, out] input that gives x's size.
    y = convolution_backward_input(
        x, weight, geometry(2, sizes(stride), sizes(padding), sizes(dilation), groups),
        {n, c_out, out[0], out[1]});
  } else {
    // output_padding >= stride (allowed when it is below dilation): no convolution of the
    // output's size gives x's size. The unpadded transposed convolution covers every position
    // any tap reaches; crop `padding` from its start and pad or crop its end to `out`.
    Sizes full(2);
    for (size_t i = 0; i < 2; ++i)
      full[i] = (in[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1;
    Tensor whole = convolution_backward_input(
        x, weight, geometry(2, sizes(stride), {0, 0}, sizes(dilation), groups),
        {n, c_out, full[0], full[1]});
    y = pad(whole, {-padding[1], out[1] + padding[1] - full[1], -padding[0],
                    out[0] + padding[0] - full[0]});
  }
  y = add_bias(y, bias);
  return batched ? y : squeeze(y, 0);
}

}  // namespace kiln::nn::functional
