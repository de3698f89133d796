#pragma once
// The CUDA kernel families, one .cu per family (mirroring src/cpu/kernels.h); the backend
// (cuda/cuda_backend.cu) forwards each Backend call here. The contract of each family is the
// CPU's: see src/backend/backend.h. Every launcher runs on the compute stream of the tensors'
// device, with that device current, and checks its launches.
#include <vector>

#include "backend/backend.h"

namespace kiln::cuda {

// copy.cu: any strides, any dtype conversion, CPU <-> CUDA and CUDA <-> CUDA.
void copy(const Tensor& src, const Tensor& dst);
// fill.cu
void fill(const Tensor& dst, Scalar value);
void arange(const Tensor& out, double start, double step);
// unary.cu (math and activations)
void unary(OpId op, const Tensor& x, const Tensor& out, const OpParams& p);
// binary.cu
void binary(OpId op, const Tensor& a, const Tensor& b, const Tensor& out);
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
// reduce.cu
void reduce(OpId op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out);
void arg_reduce(OpId op, const Tensor& x, int64_t dim, const Tensor& values, const Tensor& indices);
// norm.cu
void norm_of_tensors(const std::vector<Tensor>& xs, double p, const Tensor& out);
// softmax.cu
void softmax(OpId op, const Tensor& x, int64_t dim, const Tensor& out);
// blas/matmul.cu (cuBLASLt; cuda/blas/)
void bmm(const Tensor& a, const Tensor& b, const Tensor& out);
void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act,
            const Tensor& out);
// index.cu
void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);
void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
               double alpha);
void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);
void scatter(OpId op, const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
// random.cu (Philox, bit-identical to the CPU for the same seed and offset)
void random(OpId op, const Tensor& out, uint64_t seed, uint64_t offset, const OpParams& p,
            const Tensor& probs);
// optimizer.cu (one launch over all tensors of a group)
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const std::vector<uint8_t>& first_step,
              const SgdStepArgs& args);
void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
               const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<int64_t>& steps,
               const AdamStepArgs& args);

}  // namespace kiln::cuda
