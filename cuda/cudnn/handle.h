#pragma once
// The cuDNN seam's handle: one cudnnHandle_t per device, created on first use with the device
// current, bound to the device's compute stream, and never destroyed (like the compute streams
// and the cuBLASLt handles, so that work during static destruction still finds it). Every cuDNN
// call goes through it, so cuDNN's kernels are ordered with Kiln's without events. Internal to
// cuda/.
//
// The convolution and batch norm entry points use cuDNN's legacy API (cudnn_cnn.h /
// cudnn_ops.h), which cuDNN 9 marks deprecated; its deprecation warnings are opt-in
// (CUDNN_WARN_DEPRECATED), so nothing needs silencing here. Moving to the graph API stays local
// to cuda/cudnn/.
#include <cudnn.h>

namespace kiln::cuda::cudnn {

// The handle of `device` (which must be current); `op` names the Kiln op in errors.
cudnnHandle_t handle(int device, const char* op);

}  // namespace kiln::cuda::cudnn
