#pragma once
// Internal entry point for a linear layer followed by an activation, fused into the matrix
// product where the backend can (cuBLASLt epilogues on CUDA; cpu::linear on the CPU):
//   linear_act(x, w, b, act) == act(linear(x, w, b))
// with Activation::Relu = max(z, 0) (NaN becomes 0, as cuBLASLt's epilogue computes it; Kiln's
// relu keeps NaN) and Activation::Gelu = gelu(., "tanh") -- the tanh
// approximation, because that is the GELU cuBLASLt's epilogue computes (Kiln's default gelu is
// the exact erf form). Differentiable to any order: the backward is written with Kiln ops.
// Cases the fused kernel does not take (an integer dtype, a bias that is not [out_features])
// run the composite.
#include "backend/backend.h"
#include "kiln/tensor.h"

namespace kiln {

Tensor linear_act(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act);

// d gelu(x, "tanh") / dx as a tensor of x's dtype (src/ops/activation.cpp), shared by gelu's
// backward and linear_act's; float16/bfloat16 are computed in float32.
Tensor gelu_tanh_grad_factor(const Tensor& x);

}  // namespace kiln
