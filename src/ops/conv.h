#pragma once
// The convolution ops (src/ops/conv.cpp): the entry points src/nn's functional convolutions
// call. Internal: callers pass batched tensors with symmetric padding (the functional layer
// handles unbatched inputs, 'same' / 'valid', asymmetric padding and the bias).
//
//   convolution                  y  [N, OC, O...] = conv(x [N, C, I...], w [OC, C/groups, K...])
//   convolution_backward_input   dx [N, C, I...]  = the transposed convolution of dy with w
//   convolution_backward_weight  dw [OC, C/groups, K...] = the correlation of x with dy
// with O = (I + 2 * padding - dilation * (K - 1) - 1) / stride + 1 along each spatial dim. The
// backward of each is written with the other two, so every order of derivative is available.
// Results keep the memory format of the first tensor argument (channels-last in, channels-last
// out).
#include <cstdint>

#include "backend/backend.h"
#include "kiln/shape.h"
#include "kiln/tensor.h"

namespace kiln {

Tensor convolution(const Tensor& x, const Tensor& w, const ConvGeometry& g);
// input_shape: dx's shape [N, C, I...]; its O must be dy's (stride > 1 leaves I ambiguous).
Tensor convolution_backward_input(const Tensor& dy, const Tensor& w, const ConvGeometry& g,
                                  const Shape& input_shape);
// weight_shape: dw's shape [OC, C / groups, K...].
Tensor convolution_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g,
                                   const Shape& weight_shape);

// floor((in + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1 (may be < 1).
int64_t conv_output_size(int64_t in, int64_t padding, int64_t kernel, int64_t stride,
                         int64_t dilation);

}  // namespace kiln
