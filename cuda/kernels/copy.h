#pragma once
// Host <-> device copies that need not wait (cuda/kernels/copy.cu); pinned host memory comes
// from Tensor::pin_memory (cuda/runtime/pinned.h). Plain C++: no CUDA headers, so tests and host
// code may include it.
#include "kiln/tensor.h"

namespace kiln::cuda {

// As copy(src, dst), but a host <-> device transfer between contiguous tensors of one dtype
// whose host side is pinned returns once the transfer is queued on the device's compute stream
// (torch's non_blocking=True): read a host destination only after synchronising (the stream,
// the device, or an Event recorded after the copy). Both buffers are kept alive until the
// transfer ends. Every other copy is a plain copy().
void copy_non_blocking(const Tensor& src, const Tensor& dst);

}  // namespace kiln::cuda
