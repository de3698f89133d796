#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/check.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {

std::string format_bytes(size_t n) {
  char buf[64];
  if (n >= (size_t(1) << 40)) {
    std::snprintf(buf, sizeof(buf), "%.2f TiB", double(n) / double(size_t(1) << 40));
  } else if (n >= (size_t(1) << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2f GiB", double(n) / double(size_t(1) << 30));
  } else if (n >= (size_t(1) << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2f MiB", double(n) / double(size_t(1) << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%zu bytes", n);
  }
  return buf;
}

namespace {

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

// Kiln's own bookkeeping of one device's allocations: the pool knows what it reserved, not what
// Kiln asked for, and raw_free gets no size.
struct DeviceStats {
  std::mutex mutex;
  std::unordered_map<void*, size_t> sizes;  // live allocations
  int64_t allocated = 0, peak_allocated = 0;
  int64_t peak_allocations = 0;
  int64_t num_allocs = 0, num_frees = 0, num_alloc_retries = 0, num_ooms = 0;
};

// Never destroyed: raw_free runs in destructors of tensors that may outlive static destruction
// (a static tensor in user code), and must still find the table.
std::vector<DeviceStats>& all_stats() {
  static std::vector<DeviceStats>& stats =
      *std::make_unique<std::vector<DeviceStats>>(size_t(device_count())).release();
  return stats;
}

DeviceStats& stats_of(int device) { return all_stats()[size_t(device)]; }

void note_allocation(int device, void* ptr, size_t nbytes) {
  DeviceStats& s = stats_of(device);
  std::lock_guard<std::mutex> lock(s.mutex);
  s.sizes[ptr] = nbytes;
  s.allocated += int64_t(nbytes);
  s.peak_allocated = std::max(s.peak_allocated, s.allocated);
  s.peak_allocations = std::max(s.peak_allocations, int64_t(s.sizes.size()));
  ++s.num_allocs;
}

void note_free(int device, void* ptr) noexcept {
  if (device < 0 || device >= device_count()) return;
  DeviceStats& s = stats_of(device);
  std::lock_guard<std::mutex> lock(s.mutex);
  auto it = s.sizes.find(ptr);
  if (it == s.sizes.end()) return;
  s.allocated -= int64_t(it->second);
  s.sizes.erase(it);
  ++s.num_frees;
}

int64_t allocated_bytes(int device) {
  DeviceStats& s = stats_of(device);
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.allocated;
}

uint64_t pool_attribute(int device, cudaMemPoolAttr attr) {
  uint64_t value = 0;
  if (cudaMemPoolGetAttribute(pool(device), attr, &value) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return value;
}

[[noreturn]] void throw_out_of_memory(size_t nbytes, int device, const char* op) {
  {
    DeviceStats& s = stats_of(device);
    std::lock_guard<std::mutex> lock(s.mutex);
    ++s.num_ooms;
  }
  size_t free_bytes = 0, total_bytes = 0;
  bool have_info = cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
  (void)cudaGetLastError();
  std::string device_info =
      have_info ? ::kiln::detail::concat(format_bytes(free_bytes), " free of ",
                                         format_bytes(total_bytes), " on the device; ")
                : std::string();
  throw OutOfMemoryError(::kiln::detail::concat(
      op, ": CUDA out of memory: tried to allocate ", nbytes, " bytes (", format_bytes(nbytes),
      ") on cuda:", device, " (", device_info, format_bytes(size_t(allocated_bytes(device))),
      " allocated by Kiln, ", format_bytes(pool_reserved_bytes(device)),
      " reserved by Kiln's pool). Free tensors that are no longer needed, or use a smaller "
      "batch"));
}

}  // namespace

void* raw_allocate(size_t nbytes, int device, const char* op) {
  check_device(device, op);
  if (nbytes == 0) return nullptr;
  DeviceGuard guard(device);
  // More than the whole device can never succeed; saying so directly also avoids asking the
  // driver for sizes it may refuse with another error than out-of-memory.
  if (nbytes > total_memory(device)) throw_out_of_memory(nbytes, device, op);
  cudaMemPool_t p = pool(device);
  cudaStream_t stream = compute_stream(device);
  void* ptr = nullptr;
  cudaError_t err = cudaMallocAsync(&ptr, nbytes, stream);
  if (err == cudaErrorMemoryAllocation) {
    // Blocks freed on the stream but not yet reached by it are not reusable yet, and the pool
    // may hold memory in sizes that do not fit: wait for the stream, give the cache back to the
    // driver, and try once more before giving up.
    // Not while the stream is being captured into a CUDA Graph: synchronising would invalidate
    // the capture, so that allocation fails at once.
    (void)cudaGetLastError();
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    KILN_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture), op);
    if (capture != cudaStreamCaptureStatusNone) throw_out_of_memory(nbytes, device, op);
    KILN_CUDA_CHECK(cudaStreamSynchronize(stream), op);
    KILN_CUDA_CHECK(cudaMemPoolTrimTo(p, 0), op);
    err = cudaMallocAsync(&ptr, nbytes, stream);
    if (err == cudaErrorMemoryAllocation) throw_out_of_memory(nbytes, device, op);
    if (err == cudaSuccess) {
      DeviceStats& s = stats_of(device);
      std::lock_guard<std::mutex> lock(s.mutex);
      ++s.num_alloc_retries;
    }
  }
  if (err != cudaSuccess) {
    ::kiln::cuda::detail::throw_cuda_error(err, op, "cudaMallocAsync(&ptr, nbytes, stream)");
  }
  note_allocation(device, ptr, nbytes);
  return ptr;
}

void raw_free(void* ptr, int device) noexcept {
  if (ptr == nullptr) return;
  note_free(device, ptr);
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
  return size_t(pool_attribute(device, cudaMemPoolAttrReservedMemCurrent));
}

// ---- the public statistics (kiln/cuda.h) ----

MemoryStats memory_stats(int device) {
  device = resolve_device(device, "memory_stats");
  MemoryStats out;
  {
    DeviceStats& s = stats_of(device);
    std::lock_guard<std::mutex> lock(s.mutex);
    out.allocated_bytes = s.allocated;
    out.peak_allocated_bytes = s.peak_allocated;
    out.allocations = int64_t(s.sizes.size());
    out.peak_allocations = s.peak_allocations;
    out.num_allocs = s.num_allocs;
    out.num_frees = s.num_frees;
    out.num_alloc_retries = s.num_alloc_retries;
    out.num_ooms = s.num_ooms;
  }
  out.reserved_bytes = int64_t(pool_attribute(device, cudaMemPoolAttrReservedMemCurrent));
  out.peak_reserved_bytes = int64_t(pool_attribute(device, cudaMemPoolAttrReservedMemHigh));
  return out;
}

void reset_peak_memory_stats(int device) {
  device = resolve_device(device, "reset_peak_memory_stats");
  {
    DeviceStats& s = stats_of(device);
    std::lock_guard<std::mutex> lock(s.mutex);
    s.peak_allocated = s.allocated;
    s.peak_allocations = int64_t(s.sizes.size());
  }
  // The pool's high-water marks may only be set to zero, which restarts them from the current
  // values.
  uint64_t zero = 0;
  KILN_CUDA_CHECK(cudaMemPoolSetAttribute(pool(device), cudaMemPoolAttrReservedMemHigh, &zero),
                  "reset_peak_memory_stats");
  KILN_CUDA_CHECK(cudaMemPoolSetAttribute(pool(device), cudaMemPoolAttrUsedMemHigh, &zero),
                  "reset_peak_memory_stats");
}

void empty_cache(int device) {
  if (!is_available()) return;  // nothing cached, as torch without a GPU
  device = resolve_device(device, "empty_cache");
  DeviceGuard guard(device);
  // Blocks freed on the stream are returned to the pool only when the stream reaches the free.
  KILN_CUDA_CHECK(cudaStreamSynchronize(compute_stream(device)), "empty_cache");
  KILN_CUDA_CHECK(cudaMemPoolTrimTo(pool(device), 0), "empty_cache");
}

}  // namespace kiln::cuda
