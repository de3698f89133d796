// conv2d as a composite of Kiln ops (PyTorch 1.13 semantics), so that autograd, double backward
// and every backend come for free:
//   1. the input [N, C, H, W] is flattened to [N, C, H*W], with one zero column appended per
//      channel when some window reaches into the padding;
//   2. index_select along the flattened dim, through a cached index, gathers the columns
//      (im2col) as [N * OH * OW, C * KH * KW];
//   3. a matrix product with the weight [OC, C * KH * KW] (one batched product per group when
//      groups > 1) plus the bias gives [N * OH * OW, OC], permuted to [N, OC, OH, OW].
// The backward of index_select is index_add (col2im), whose backward is index_select again.
#include <array>
#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/nn/conv.h"
#include "kiln/ops.h"
#include "nn/functional_common.h"
#include "nn/functional_window.h"

namespace kiln::nn::functional {

using detail::describe;
using detail::size2_str;
using detail::Window2d;

namespace {

constexpr const char* kConv = "conv2d";

// The im2col index into [N, C * P] (P = H*W, plus one zero column when `pad_slot`): for window
// l, channel c and tap k (row-major [L, C, K]), c * P + the tap's position, or c * P + H*W
// where the tap falls into the padding.
Tensor conv_index(const Window2d& g, int64_t channels, bool pad_slot, Device device) {
  const std::string key = kiln::detail::concat("conv2d;", g.key(), ";", channels, ";", pad_slot);
  return detail::cached_tensor(key, device, [&] {
    const std::vector<int64_t> pos = detail::window_positions(g);
    const int64_t L = g.outputs(), K = g.taps(), P = g.plane() + (pad_slot ? 1 : 0);
    std::vector<int64_t> idx(size_t(L * channels * K));
    size_t i = 0;
    for (int64_t l = 0; l < L; ++l)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t k = 0; k < K; ++k) {
          const int64_t p = pos[size_t(l * K + k)];
          idx[i++] = c * P + (p < 0 ? g.plane() : p);
        }
    return tensor(idx, {int64_t(idx.size())});
  });
}

// The grouped weight [OC, C / groups, KH, KW] as the equivalent dense [OC, C * KH * KW] matrix:
// group g's block in its rows and columns, zeros elsewhere.
Tensor block_diagonal(const Tensor& weight, int64_t groups) {
  const int64_t ocg = weight.size(0) / groups;
  const int64_t block = weight.size(1) * weight.size(2) * weight.size(3);
  const TensorOptions opt(weight.dtype(), weight.device());
  std::vector<Tensor> rows;
  for (int64_t g = 0; g < groups; ++g) {
    Tensor w = reshape(narrow(weight, 0, g * ocg, ocg), {ocg, block});
    rows.push_back(
        cat({zeros({ocg, g * block}, opt), w, zeros({ocg, (groups - 1 - g) * block}, opt)}, 1));
  }
  return cat(rows, 0);
}

void check_conv_args(const Tensor& input, const Tensor& weight, const Tensor& bias,
                     const Size2& stride, const Size2& dilation, int64_t groups) {
  detail::check_defined(kConv, input, "input");
  detail::check_defined(kConv, weight, "weight");
  KILN_CHECK_TYPE(input.is_floating_point(), kConv, ": expected a floating point input, got ",
                  describe(input));
  KILN_CHECK_TYPE(
      weight.dtype() == input.dtype() && (!bias.defined() || bias.dtype() == input.dtype()), kConv,
      ": expected input, weight and bias to have the same dtype, got input ",
      dtype_name(input.dtype()), ", weight ", dtype_name(weight.dtype()),
      bias.defined() ? std::string(", bias ") + dtype_name(bias.dtype()) : "");
  KILN_CHECK_VALUE(
      weight.device() == input.device() && (!bias.defined() || bias.device() == input.device()),
      kConv, ": expected input, weight and bias on the same device, got input on ",
      input.device().str(), ", weight on ", weight.device().str(),
      bias.defined() ? ", bias on " + bias.device().str() : "");
  KILN_CHECK_VALUE(input.dim() == 3 || input.dim() == 4, kConv,
                   ": expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(weight.dim() == 4, kConv,
                   ": expected a 4-D weight [out_channels, in_channels / groups, kH, kW], got ",
                   shape_str(weight.shape()));
  KILN_CHECK_VALUE(weight.numel() > 0, kConv, ": weight ", shape_str(weight.shape()), " is empty");
  KILN_CHECK_VALUE(input.size(-1) > 0 && input.size(-2) > 0 && input.size(-3) > 0, kConv,
                   ": expected non-empty channel and spatial dims, got input ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(groups >= 1, kConv, ": groups must be positive, got ", groups);
  KILN_CHECK_VALUE(stride[0] >= 1 && stride[1] >= 1, kConv, ": stride must be positive, got ",
                   size2_str(stride));
  KILN_CHECK_VALUE(dilation[0] >= 1 && dilation[1] >= 1, kConv, ": dilation must be positive, got ",
                   size2_str(dilation));
  const int64_t oc = weight.size(0), channels = input.size(-3);
  KILN_CHECK_VALUE(oc % groups == 0, kConv, ": weight ", shape_str(weight.shape()), " has ", oc,
                   " output channels, which is not divisible by groups=", groups);
  KILN_CHECK_VALUE(channels == weight.size(1) * groups, kConv, ": input has ", channels,
                   " channels but weight expects ", weight.size(1) * groups, " (groups=", groups,
                   "); input ", shape_str(input.shape()), ", weight ", shape_str(weight.shape()));
  if (bias.defined())
    KILN_CHECK_VALUE(bias.dim() == 1 && bias.size(0) == oc, kConv, ": expected a bias of shape [",
                     oc, "] for weight ", shape_str(weight.shape()), ", got ",
                     shape_str(bias.shape()));
}

// pads: {top, bottom, left, right}; `padding_desc` describes them in errors.
Tensor conv2d_impl(const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const Size2& stride, const std::array<int64_t, 4>& pads,
                   const std::string& padding_desc, const Size2& dilation, int64_t groups) {
  check_conv_args(input, weight, bias, stride, dilation, groups);
  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : unsqueeze(input, 0);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OC = weight.size(0), KH = weight.size(2), KW = weight.size(3);

  Window2d g;
  g.h = H;
  g.w = W;
  g.kernel = {KH, KW};
  g.stride = stride;
  g.pad_before = {pads[0], pads[2]};
  g.dilation = dilation;
  g.oh = detail::conv_output_size(H, pads[0] + pads[1], KH, stride[0], dilation[0]);
  g.ow = detail::conv_output_size(W, pads[2] + pads[3], KW, stride[1], dilation[1]);
  KILN_CHECK_VALUE(g.oh >= 1 && g.ow >= 1, kConv, ": output size ", g.oh, "x", g.ow,
                   " is too small (input ", H, "x", W, ", kernel ", KH, "x", KW, ", stride ",
                   size2_str(stride, true), ", padding ", padding_desc, ", dilation ",
                   size2_str(dilation, true), ")");

  const bool pad_slot = detail::reaches_padding(g);
  const int64_t L = g.outputs(), K = g.taps();
  Tensor flat = reshape(x, {N, C, H * W});
  if (pad_slot) flat = cat({flat, zeros({N, C, 1}, TensorOptions(x.dtype(), x.device()))}, 2);
  flat = reshape(flat, {N, flat.size(1) * flat.size(2)});
  Tensor cols = index_select(flat, 1, conv_index(g, C, pad_slot, x.device()));
  cols = reshape(cols, {N * L, C * K});  // rows: (n, oy, ox); columns: (c, ky, kx)

  Tensor out;  // [N * L, OC]
  if (groups == 1) {
    out = linear(cols, reshape(weight, {OC, C * K}), bias);
  } else if (N == 0) {
    // An empty batch: one product with the block-diagonal weight gives the same (empty) result
    // and zero weight and bias gradients, without a batched product over empty matrices (the
    // CPU bmm refuses those: an empty [G, 0, n] output does not count as contiguous).
    out = linear(cols, block_diagonal(weight, groups), bias);
  } else {
    const int64_t cg = C / groups, ocg = OC / groups;
    Tensor a = transpose(reshape(cols, {N * L, groups, cg * K}), 0, 1);  // [G, NL, CgK]
    Tensor b = transpose(reshape(weight, {groups, ocg, cg * K}), 1, 2);  // [G, CgK, OCg]
    out = reshape(transpose(matmul(a, b), 0, 1), {N * L, OC});           // [NL, G * OCg]
    if (bias.defined()) out = add(out, bias);
  }
  // Contiguous like PyTorch's result, so that view() works on it (e.g. flattening for a linear
  // layer).
  out = contiguous(reshape(permute(reshape(out, {N, L, OC}), {0, 2, 1}), {N, OC, g.oh, g.ow}));
  return batched ? out : squeeze(out, 0);
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size2 stride,
              Size2 padding, Size2 dilation, int64_t groups) {
  KILN_CHECK_VALUE(padding[0] >= 0 && padding[1] >= 0, kConv,
                   ": padding must be non-negative, got ", size2_str(padding));
  return conv2d_impl(input, weight, bias, stride, {padding[0], padding[0], padding[1], padding[1]},
                     size2_str(padding, true), dilation, groups);
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size2 stride,
              const PaddingMode& padding, Size2 dilation, int64_t groups) {
  if (padding.name == "valid")
    return conv2d_impl(input, weight, bias, stride, {0, 0, 0, 0}, "'valid'", dilation, groups);
  KILN_CHECK_VALUE(padding.name == "same", kConv, ": padding must be 'same' or 'valid', got '",
                   padding.name, "'");
  KILN_CHECK_VALUE(stride[0] == 1 && stride[1] == 1, kConv,
                   ": padding='same' is not supported for strided convolutions (stride ",
                   size2_str(stride), ")");
  // Checked here too: the padding below reads the weight's kernel size.
  detail::check_defined(kConv, weight, "weight");
  KILN_CHECK_VALUE(weight.dim() == 4, kConv,
                   ": expected a 4-D weight [out_channels, in_channels / groups, kH, kW], got ",
                   shape_str(weight.shape()));
  KILN_CHECK_VALUE(dilation[0] >= 1 && dilation[1] >= 1, kConv, ": dilation must be positive, got ",
                   size2_str(dilation));
  // Total dilation * (kernel - 1) per dim, the odd element after (bottom / right), as PyTorch.
  std::array<int64_t, 4> pads{};
  for (int d = 0; d < 2; ++d) {
    const int64_t total = dilation[size_t(d)] * (weight.size(2 + d) - 1);
    pads[size_t(2 * d)] = total / 2;
    pads[size_t(2 * d + 1)] = total - total / 2;
  }
  return conv2d_impl(input, weight, bias, stride, pads, "'same'", dilation, groups);
}

}  // namespace kiln::nn::functional
