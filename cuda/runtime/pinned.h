#pragma once
// Page-locked host memory (cudaHostAlloc) for CPU tensors that are copied to and from GPUs:
// the DMA engines read it directly, so such a copy can be asynchronous (non_blocking=True) and
// runs at full PCIe/NVLink bandwidth. Plain C++ (no CUDA headers) for src/core.
#include <cstddef>
#include <memory>

#include "core/storage.h"

namespace kiln::cuda {

// Storage of nbytes of pinned host memory (a CPU storage). Its block goes back to a cache for
// reuse when the storage dies (cudaFreeHost would synchronise the device). Needs a
// usable device: throws kiln::Error naming `op` without one, OutOfMemoryError when the host
// cannot lock that much memory.
std::shared_ptr<Storage> allocate_pinned_storage(size_t nbytes, const char* op);

// Whether `ptr` lies in page-locked host memory that the CUDA runtime knows about (from
// cudaHostAlloc, or registered). False without a device.
bool is_pinned_pointer(const void* ptr);

}  // namespace kiln::cuda
