#pragma once
// The CPU reference kernels, one family per file (mirrored by cuda/kernels/). See
// src/backend/backend.h for the contract each family follows.
#include <vector>

#include "backend/backend.h"

namespace kiln::cpu {

// unary.cpp
void unary(OpId op, const Tensor& x, const Tensor& out, const OpParams& p);
// binary.cpp
void binary(OpId op, const Tensor& a, const Tensor& b, const Tensor& out);
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
// copy.cpp
void copy(const Tensor& src, const Tensor& dst);
void fill(const Tensor& dst, Scalar value);
void arange(const Tensor& out, double start, double step);
// random.cpp
void random(OpId op, const Tensor& out, uint64_t seed, uint64_t offset, const OpParams& p,
            const Tensor& probs);
// reduce.cpp
void reduce(OpId op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out);
void arg_reduce(OpId op, const Tensor& x, int64_t dim, const Tensor& values, const Tensor& indices);
// softmax.cpp
void softmax(OpId op, const Tensor& x, int64_t dim, const Tensor& out);
// blas.cpp
void bmm(const Tensor& a, const Tensor& b, const Tensor& out);
void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act,
            const Tensor& out);
// conv.cpp (im2col + GEMM; Winograd for 3x3 in conv_winograd.cpp)
void conv_forward(const Tensor& x, const Tensor& w, const ConvGeometry& g, const Tensor& y);
void conv_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g, const Tensor& dx);
void conv_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g,
                          const Tensor& dw);
// index.cpp
void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);
void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
               double alpha);
void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);
void scatter(OpId op, const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
// optimizer.cpp
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const std::vector<uint8_t>& first_step,
              const SgdStepArgs& args);
void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
               const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<int64_t>& steps,
               const AdamStepArgs& args);
void norm_of_tensors(const std::vector<Tensor>& xs, double p, const Tensor& out);
// batch_norm.cpp
void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Tensor& running_mean, const Tensor& running_var,
                        const BatchNormArgs& args, const Tensor& y, const Tensor& save_mean,
                        const Tensor& save_invstd);
void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& weight,
                         const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                         const Tensor& dweight, const Tensor& dbias);

}  // namespace kiln::cpu
