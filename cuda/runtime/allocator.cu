#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "common/check.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

std::string format_bytes(size_t n) {
  char buf[64];
  if (n >= (size_t(1) << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2f GiB", double(n) / double(size_t(1) << 30));
  } else if (n >= (size_t(1) << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2f MiB", double(n) / double(size_t(1) << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%zu bytes", n);
  }
  return buf;
}

// Configures each device's default pool once: keep everything (the framework is the only big
// user of the GPU, and returning memory to the driver costs a synchronization per release).
cudaMemPool_t pool(int device) {
  struct Pools {
    std::vector<std::once_flag> once;
    std::vector<cudaMemPool_t> pool;
    explicit Pools(int n) : once(size_t(n)), pool(size_t(n), nullptr) {}
  };
  static Pools pools(device_count());
  std::call_once(pools.once[size_t(device)], [device] {
    cudaMemPool_t p = nullptr;
    KILN_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&p, device), "allocate");
    uint64_t threshold = UINT64_MAX;
    KILN_CUDA_CHECK(cudaMemPoolSetAttribute(p, cudaMemPoolAttrReleaseThreshold, &threshold),
                    "allocate");
    pools.pool[size_t(device)] = p;
  });
  return pools.pool[size_t(device)];
}

[[noreturn]] void throw_out_of_memory(size_t nbytes, int device, const char* op) {
  size_t free_bytes = 0, total_bytes = 0;
  bool have_info = cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
  (void)cudaGetLastError();
  std::string detail =
      have_info ? ::kiln::detail::concat(
                      " (", format_bytes(free_bytes), " free of ", format_bytes(total_bytes), ", ",
                      format_bytes(pool_reserved_bytes(device)), " held by Kiln's pool)")
                : std::string();
  throw ::kiln::Error(::kiln::detail::concat(op, ": CUDA out of memory: tried to allocate ", nbytes,
                                             " bytes (", format_bytes(nbytes), ") on cuda:", device,
                                             detail));
}

}  // namespace

void* raw_allocate(size_t nbytes, int device, const char* op) {
  check_device(device, op);
  if (nbytes == 0) return nullptr;
  DeviceGuard guard(device);
  cudaMemPool_t p = pool(device);
  cudaStream_t stream = compute_stream(device);
  void* ptr = nullptr;
  cudaError_t err = cudaMallocAsync(&ptr, nbytes, stream);
  if (err == cudaErrorMemoryAllocation) {
    // Blocks freed on the stream but not yet reached by it are not reusable yet, and the pool
    // may hold memory in sizes that do not fit: wait for the stream, give the cache back to the
    // driver, and try once more before giving up.
    (void)cudaGetLastError();
    KILN_CUDA_CHECK(cudaStreamSynchronize(stream), op);
    KILN_CUDA_CHECK(cudaMemPoolTrimTo(p, 0), op);
    err = cudaMallocAsync(&ptr, nbytes, stream);
    if (err == cudaErrorMemoryAllocation) throw_out_of_memory(nbytes, device, op);
  }
  if (err != cudaSuccess) {
    ::kiln::cuda::detail::throw_cuda_error(err, op, "cudaMallocAsync(&ptr, nbytes, stream)");
  }
  return ptr;
}

void raw_free(void* ptr, int device) noexcept {
  if (ptr == nullptr) return;
  // Errors are dropped on purpose: this runs in destructors, possibly after the runtime has shut
  // down at process exit (cudaErrorCudartUnloading), when the memory is going away anyway.
  int previous = -1;
  if (cudaGetDevice(&previous) != cudaSuccess) previous = -1;
  if (previous != device) (void)cudaSetDevice(device);
  cudaStream_t stream = nullptr;  // the legacy stream if the compute stream cannot be had
  try {
    stream = compute_stream(device);
  } catch (...) {
  }
  (void)cudaFreeAsync(ptr, stream);
  if (previous >= 0 && previous != device) (void)cudaSetDevice(previous);
  (void)cudaGetLastError();
}

std::shared_ptr<Storage> allocate_storage(size_t nbytes, int device) {
  void* ptr = raw_allocate(nbytes, device, "allocate");
  return std::make_shared<Storage>(ptr, nbytes, Device::cuda(device),
                                   [device](void* p) { raw_free(p, device); });
}

size_t pool_reserved_bytes(int device) {
  uint64_t reserved = 0;
  if (cudaMemPoolGetAttribute(pool(device), cudaMemPoolAttrReservedMemCurrent, &reserved) !=
      cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return size_t(reserved);
}

}  // namespace kiln::cuda
