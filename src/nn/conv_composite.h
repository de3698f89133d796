#pragma once
// conv2d as a composite of Kiln ops (index_select im2col + matmul): the implementation conv2d
// had before the convolution op (src/ops/conv.cpp), kept as that op's test oracle. It records
// autograd history through the ops it uses, so its gradients are independent of the op's.
#include <array>
#include <cstdint>

#include "kiln/nn/conv.h"
#include "kiln/tensor.h"

namespace kiln::nn::functional::detail {

// input [N, C, H, W] (batched), weight [OC, C / groups, KH, KW], bias [OC] or undefined; pads
// {top, bottom, left, right}. The arguments must already be valid (the output at least 1x1):
// only conv2d's checks give readable errors.
Tensor conv2d_composite(const Tensor& input, const Tensor& weight, const Tensor& bias, Size2 stride,
                        const std::array<int64_t, 4>& pads, Size2 dilation, int64_t groups);

}  // namespace kiln::nn::functional::detail
