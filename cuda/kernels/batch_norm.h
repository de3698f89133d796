#pragma once
// Kiln's own batch normalisation kernels (batch_norm.cu): what runs where cuDNN does not
// (bfloat16, an epsilon below CUDNN_BN_MIN_EPSILON, batches beyond cuDNN's limits, odd layouts,
// running statistics given one without the other, no dx wanted, cuDNN switched off). The
// arguments and their contract are Backend::batch_norm_forward / batch_norm_backward's
// (src/backend/backend.h), already checked by cuda/cudnn/batch_norm.cu: per-channel tensors are
// contiguous [C] of the statistics dtype (float32 for bfloat16/float16 inputs, else x's).
//
// Semantics are the CPU reference's (src/cpu/batch_norm.cpp): statistics in two passes (mean,
// then the centred sum of squares) accumulated in double, in a fixed order that depends only on
// the shape; per-element arithmetic in float (double for float64) with the CPU's rounding
// points (no fused multiply-add); the running variance is the unbiased one.
#include "backend/backend.h"

namespace kiln::cuda {

void batch_norm_forward_native(const Tensor& x, const Tensor& weight, const Tensor& bias,
                               const Tensor& running_mean, const Tensor& running_var,
                               const BatchNormArgs& args, const Tensor& y, const Tensor& save_mean,
                               const Tensor& save_invstd);

void batch_norm_backward_native(const Tensor& x, const Tensor& dy, const Tensor& weight,
                                const Tensor& save_mean, const Tensor& save_invstd,
                                const Tensor& dx, const Tensor& dweight, const Tensor& dbias);

}  // namespace kiln::cuda
