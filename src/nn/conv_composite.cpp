// conv2d as a composite of Kiln ops, the convolution op's oracle (src/nn/conv_composite.h):
//   1. the input [N, C, H, W] is flattened to [N, C, H*W], with one zero column appended per
//      channel when some window reaches into the padding;
//   2. index_select along the flattened dim, through a cached index, gathers the columns
//      (im2col) as [N * OH * OW, C * KH * KW];
//   3. a matrix product with the weight [OC, C * KH * KW] (one batched product per group when
//      groups > 1) plus the bias gives [N * OH * OW, OC], permuted to [N, OC, OH, OW].
// The backward of index_select is index_add (col2im), whose backward is index_select again.
#include "nn/conv_composite.h"

#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/ops.h"
#include "nn/functional_window.h"

namespace kiln::nn::functional::detail {

namespace {

// The im2col index into [N, C * P] (P = H*W, plus one zero column when `pad_slot`): for window
// l, channel c and tap k (row-major [L, C, K]), c * P + the tap's position, or c * P + H*W
// where the tap falls into the padding.
Tensor conv_index(const Window2d& g, int64_t channels, bool pad_slot, Device device) {
  const std::string key = kiln::detail::concat("conv2d;", g.key(), ";", channels, ";", pad_slot);
  return cached_tensor(key, device, [&] {
    const std::vector<int64_t> pos = window_positions(g);
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

}  // namespace

Tensor conv2d_composite(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride,
                        const std::array<int64_t, 4>& pads, Size2 dilation, int64_t groups) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OC = weight.size(0), KH = weight.size(2), KW = weight.size(3);

  Window2d g;
  g.h = H;
  g.w = W;
  g.kernel = {KH, KW};
  g.stride = stride;
  g.pad_before = {pads[0], pads[2]};
  g.dilation = dilation;
  g.oh = conv_output_size(H, pads[0] + pads[1], KH, stride[0], dilation[0]);
  g.ow = conv_output_size(W, pads[2] + pads[3], KW, stride[1], dilation[1]);
  KILN_CHECK_VALUE(g.oh >= 1 && g.ow >= 1, "conv2d_composite: output size ", g.oh, "x", g.ow,
                   " is too small");

  const bool pad_slot = reaches_padding(g);
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
  return contiguous(reshape(permute(reshape(out, {N, L, OC}), {0, 2, 1}), {N, OC, g.oh, g.ow}));
}

}  // namespace kiln::nn::functional::detail
