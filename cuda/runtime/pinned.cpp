#include "runtime/pinned.h"

#include <cuda_runtime_api.h>

#include "common/check.h"
#include "runtime/allocator.h"
#include "runtime/device.h"

namespace kiln::cuda {

std::shared_ptr<Storage> allocate_pinned_storage(size_t nbytes, const char* op) {
  KILN_CHECK(is_available(), op,
             ": pinned memory needs a CUDA device, and none is available (no GPU or no driver)");
  void* ptr = nullptr;
  if (nbytes > 0) {
    // Portable: pinned for every device's copies, not only the current one's.
    cudaError_t err = cudaHostAlloc(&ptr, nbytes, cudaHostAllocPortable);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      throw OutOfMemoryError(::kiln::detail::concat(op, ": cannot pin ", nbytes, " bytes (",
                                                    format_bytes(nbytes), ") of host memory"));
    }
    if (err != cudaSuccess) {
      ::kiln::cuda::detail::throw_cuda_error(err, op, "cudaHostAlloc(&ptr, nbytes, portable)");
    }
  }
  // cudaFreeHost waits for nothing: a non_blocking copy still reading this buffer keeps the
  // Storage alive itself (Backend::copy_non_blocking's contract).
  return std::make_shared<Storage>(ptr, nbytes, Device::cpu(), [](void* p) {
    (void)cudaFreeHost(p);
    (void)cudaGetLastError();
  });
}

bool is_pinned_pointer(const void* ptr) {
  if (ptr == nullptr || !is_available()) return false;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeHost;
}

}  // namespace kiln::cuda
