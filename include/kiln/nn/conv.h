#pragma once
// kiln::nn::functional: 2-D convolution and pooling with the semantics of torch.nn.functional
// (PyTorch 1.13). Each is a composite of Kiln ops (im2col through index_select with a
// precomputed index, then a matrix product), so it records autograd history (double backward
// included) and runs on any backend that has the underlying kernels.
//
// Shapes: input [N, C, H, W] or unbatched [C, H, W] (the result is then unbatched too). Pairs are
// {height, width}. Bad arguments raise kiln::ValueError naming the function and the shapes, e.g.
// "conv2d: input has 3 channels but weight expects 4 (groups=1)"; non-floating point tensors
// raise kiln::TypeError. Output sizes follow PyTorch:
//   out = floor((in + pad_before + pad_after - dilation * (kernel - 1) - 1) / stride) + 1
// and an output size below 1 is an error.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "kiln/tensor.h"

namespace kiln::nn::functional {

using Size2 = std::array<int64_t, 2>;  // {height, width}

// Padding given by name, as torch's padding="same" / "valid". A distinct type, so that a braced
// pair such as {1, 1} or {0, 0} always selects the numeric overload.
struct PaddingMode {
  std::string name;
  PaddingMode(const char* n) : name(n) {}             // NOLINT(google-explicit-constructor)
  PaddingMode(std::string n) : name(std::move(n)) {}  // NOLINT(google-explicit-constructor)
};

// ---------------- convolution (src/nn/functional_conv.cpp) ----------------
// weight: [OC, C / groups, KH, KW]; bias: [OC] or undefined. C and OC must be divisible by
// groups; input, weight and bias must share dtype and device. Result [N, OC, OH, OW].
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              Size2 stride = {1, 1}, Size2 padding = {0, 0}, Size2 dilation = {1, 1},
              int64_t groups = 1);
// padding "valid" is {0, 0}; "same" (stride must be 1) pads dilation * (kernel - 1) in total
// along each dim, the odd element, if any, at the bottom / right, as PyTorch does.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size2 stride,
              const PaddingMode& padding, Size2 dilation = {1, 1}, int64_t groups = 1);

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
