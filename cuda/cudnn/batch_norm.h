#pragma once
// Batch normalisation on CUDA (batch_norm.cu): the Backend's batch_norm_forward /
// batch_norm_backward, with the contract of src/backend/backend.h. cuDNN runs what it takes;
// Kiln's own kernels (kernels/batch_norm.h) run the rest. Internal to cuda/.
#include "backend/backend.h"

namespace kiln::cuda {

void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Tensor& running_mean, const Tensor& running_var,
                        const BatchNormArgs& args, const Tensor& y, const Tensor& save_mean,
                        const Tensor& save_invstd);

void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& weight,
                         const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                         const Tensor& dweight, const Tensor& dbias);

namespace cudnn {
// Calls that cuDNN ran, for tests (the others ran Kiln's kernels).
struct BatchNormStats {
  int64_t cudnn_forward = 0, cudnn_backward = 0, native_forward = 0, native_backward = 0;
};
BatchNormStats batch_norm_stats();
}  // namespace cudnn

}  // namespace kiln::cuda
