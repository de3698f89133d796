#pragma once
// Host <-> device copies that need not wait, and the pinned host memory they need
// (cuda/kernels/copy.cu). Plain C++: no CUDA headers, so tests and host code may include it.
#include "kiln/tensor.h"

namespace kiln::cuda {

// As copy(src, dst), but a host <-> device transfer between contiguous tensors of one dtype
// whose host side is pinned returns once the transfer is queued on the device's compute stream
// (torch's non_blocking=True): read a host destination only after synchronising (the stream,
// the device, or an Event recorded after the copy). Both buffers are kept alive until the
// transfer ends. Every other copy is a plain copy().
void copy_non_blocking(const Tensor& src, const Tensor& dst);

// A contiguous CPU tensor in page-locked (pinned) host memory, for non-blocking transfers
// (torch.empty(..., pin_memory=True)). Throws kiln::Error when no CUDA device is usable.
Tensor empty_pinned(const Shape& shape, DType dtype);

// Whether t is a CPU tensor whose memory is pinned (cudaHostAlloc or cudaHostRegister).
bool is_pinned(const Tensor& t);

}  // namespace kiln::cuda
