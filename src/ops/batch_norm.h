#pragma once
// The fused batch normalisation op (OpId::BatchNorm): one Backend::batch_norm_forward call in
// place of the composite's mean / var / rsqrt / affine ops, and a backward that is one
// Backend::batch_norm_backward call (training) or a few ops (evaluation). Under create_graph the
// training backward is the closed-form gradient written with Kiln ops instead, so it is itself
// differentiable (torch's batchnorm_double_backward plays that part). nn::functional::batch_norm
// checks the arguments and calls it when batch_norm_fusable says it applies; the composite
// (nn/batch_norm_composite.h) is its test oracle.
#include "kiln/tensor.h"

namespace kiln {

// The dtype of the statistics and of the per-channel tensors the kernels take: float32 for
// bfloat16 / float16 inputs, else the input's.
DType batch_norm_stats_dtype(DType x);

// Whether batch_norm_fused takes these (already checked) arguments: a floating x [N, C, *] with
// at least one element whose backend has the kernel, and per-channel tensors (each [C] elements
// or undefined) of x's dtype or the statistics dtype. Other dtype mixes keep the composite's
// type promotion.
bool batch_norm_fusable(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                        const Tensor& weight, const Tensor& bias);

// batch_norm with torch's semantics (see nn::functional::batch_norm); momentum is the update
// factor (0 leaves the running statistics as they are). Training updates defined running
// statistics in place, without history; evaluation needs them defined. The result has x's
// memory format (channels-last stays channels-last). Gradients flow to x, weight and bias.
Tensor batch_norm_fused(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                        const Tensor& weight, const Tensor& bias, bool training, double momentum,
                        double eps);

}  // namespace kiln
