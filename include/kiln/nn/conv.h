#pragma once
// kiln::nn::functional: convolution (1-D, 2-D, 3-D and transposed 2-D) and 2-D pooling with the
// semantics of torch.nn.functional (PyTorch 1.13). The convolutions run the convolution ops
// (src/ops/conv.cpp: im2col + GEMM on the CPU, cuDNN on CUDA) whose backward formulas are
// convolutions again, so double backward works; the bias is a broadcast add. Pooling is a
// composite of Kiln ops (im2col through index_select with a precomputed index, then max / sum).
//
// Shapes: input [N, C, *spatial] or unbatched [C, *spatial] (the result is then unbatched too).
// Pairs are {height, width}, triples {depth, height, width}. Bad arguments raise
// kiln::ValueError naming the function and the shapes, e.g.
// "conv2d: input has 3 channels but weight expects 4 (groups=1)"; non-floating point tensors
// raise kiln::TypeError. Output sizes follow PyTorch:
//   out = floor((in + pad_before + pad_after - dilation * (kernel - 1) - 1) / stride) + 1
// and an output size below 1 is an error naming the input size and the kernel, stride, padding
// and dilation that caused it.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "kiln/tensor.h"

namespace kiln::nn::functional {

using Size2 = std::array<int64_t, 2>;  // {height, width}
using Size3 = std::array<int64_t, 3>;  // {depth, height, width}

// Padding given by name, as torch's padding="same" / "valid". A distinct type, so that a braced
// pair such as {1, 1} or {0, 0} always selects the numeric overload.
struct PaddingMode {
  std::string name;
  PaddingMode(const char* n) : name(n) {}             // NOLINT(google-explicit-constructor)
  PaddingMode(std::string n) : name(std::move(n)) {}  // NOLINT(google-explicit-constructor)
};

// ---------------- convolution (src/nn/functional_conv.cpp) ----------------
// weight: [OC, C / groups, *kernel]; bias: [OC] or undefined. C and OC must be divisible by
// groups; input, weight and bias must share dtype and device. A channels-last input
// (kiln/memory_format.h) gives a channels-last result.
//
// padding "valid" is no padding; "same" (stride must be 1) pads dilation * (kernel - 1) in
// total along each dim, the odd element, if any, after (bottom / right), as PyTorch does.

// input [N, C, L] or [C, L]; weight [OC, C / groups, kL].
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1);
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, int64_t stride,
              const PaddingMode& padding, int64_t dilation = 1, int64_t groups = 1);

// input [N, C, H, W] or [C, H, W]; weight [OC, C / groups, KH, KW]. Result [N, OC, OH, OW].
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              Size2 stride = {1, 1}, Size2 padding = {0, 0}, Size2 dilation = {1, 1},
              int64_t groups = 1);
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size2 stride,
              const PaddingMode& padding, Size2 dilation = {1, 1}, int64_t groups = 1);

// input [N, C, D, H, W] or [C, D, H, W]; weight [OC, C / groups, KD, KH, KW].
Tensor conv3d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              Size3 stride = {1, 1, 1}, Size3 padding = {0, 0, 0}, Size3 dilation = {1, 1, 1},
              int64_t groups = 1);
Tensor conv3d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size3 stride,
              const PaddingMode& padding, Size3 dilation = {1, 1, 1}, int64_t groups = 1);

// The transposed convolution (the gradient of conv2d with respect to its input), torch's
// argument order. input [N, C_in, H, W] or [C_in, H, W]; weight [C_in, C_out / groups, KH, KW];
// bias [C_out]. Output size per dim:
//   (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
// output_padding must be smaller than stride or than dilation (as torch).
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
                        Size2 stride = {1, 1}, Size2 padding = {0, 0},
                        Size2 output_padding = {0, 0}, int64_t groups = 1, Size2 dilation = {1, 1});

// ---------------- pooling (src/nn/functional_pool.cpp) ----------------
// stride {0, 0} (also written {}) means stride = kernel_size. padding (implicit -inf for max,
// 0 for avg) must be at most half the kernel size. With ceil_mode the output size rounds up,
// but the last window must start inside the input or the left / top padding.
Tensor max_pool2d(const Tensor& input, Size2 kernel_size, Size2 stride = {0, 0},
                  Size2 padding = {0, 0}, Size2 dilation = {1, 1}, bool ceil_mode = false);
// {values, indices}: indices (int64, the shape of values) are flat positions h * W + w within
// each input plane, as torch returns them. The gradient goes to the first maximum of each window
// in row-major order, as in PyTorch.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, Size2 kernel_size,
                                                  Size2 stride = {0, 0}, Size2 padding = {0, 0},
                                                  Size2 dilation = {1, 1}, bool ceil_mode = false);
// The sum over each window divided by: divisor_override when given (non-zero); else the window
// size clipped to the padded input (count_include_pad) or the number of input elements in the
// window (not count_include_pad).
Tensor avg_pool2d(const Tensor& input, Size2 kernel_size, Size2 stride = {0, 0},
                  Size2 padding = {0, 0}, bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt);

}  // namespace kiln::nn::functional
