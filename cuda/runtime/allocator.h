#pragma once
// Stream-ordered device memory: cudaMallocAsync / cudaFreeAsync on the device's compute stream,
// from the device's default memory pool with a release threshold of "never", so freed blocks
// stay in the pool for reuse instead of going back to the driver at every synchronization.
// Allocation is legal during CUDA Graph capture, which is the reason for this design.
// Kiln counts what it asked for per device (kiln::cuda::memory_stats in kiln/cuda.h, defined
// in allocator.cu); the pool reports what it reserved.
#include <cstddef>
#include <memory>
#include <string>

#include "core/storage.h"
#include "kiln/cuda.h"

namespace kiln::cuda {

// Storage of nbytes on cuda:device, freed (stream-ordered) when the last view lets go.
// Throws kiln::Error when there is no device, and kiln::cuda::OutOfMemoryError naming the
// requested size and the pool's statistics when the memory is not there even after the pool
// gave its cache back (the process stays usable).
std::shared_ptr<Storage> allocate_storage(size_t nbytes, int device);

// The same without a Storage, for scratch space (cuBLAS/cuDNN workspaces). `op` starts the
// error message. raw_free never throws (it runs in destructors).
void* raw_allocate(size_t nbytes, int device, const char* op);
void raw_free(void* ptr, int device) noexcept;

// Memory held by the pool of `device` (in use + cached), in bytes.
size_t pool_reserved_bytes(int device);

// "1.50 GiB", "12.00 MiB", "512 bytes": sizes in error messages.
std::string format_bytes(size_t nbytes);

}  // namespace kiln::cuda
