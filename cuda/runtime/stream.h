#pragma once
// One compute stream per device (kernels, copies and stream-ordered allocations all go there, so
// they are ordered without events) and one communication stream per device for NCCL, so that
// gradient all-reduces overlap the rest of backward. Work crossing between the two is ordered
// with events (runtime/event.h).
#include <cuda_runtime_api.h>

namespace kiln::cuda {

// The device's compute stream, created on first use and kept for the life of the process (never
// destroyed, so tensors freed during static destruction still have a valid stream).
// It is a blocking stream: work on the legacy default stream (cudaMemcpy from other code)
// still waits for it.
cudaStream_t compute_stream(int device);

// The device's communication stream: non-blocking (it does not wait for the legacy default
// stream) and of the highest priority, so that a ready all-reduce is scheduled ahead of the
// compute kernels queued behind it. Created on first use, never destroyed.
cudaStream_t communication_stream(int device);

// Waits for all work queued on the device's compute stream.
void synchronize(int device);

}  // namespace kiln::cuda
