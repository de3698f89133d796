#include "runtime/pinned.h"

#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common/check.h"
#include "runtime/allocator.h"
#include "runtime/device.h"

namespace kiln::cuda {

namespace {

// Pinned blocks whose tensors are gone wait here for reuse instead of going back through
// cudaFreeHost, which synchronises the device: in a loop of pin_memory() + non_blocking copies
// (a DataLoader with pin_memory=True) a free per batch would stall the very overlap those copies
// are for. torch keeps a caching host allocator for the same reason. A block returns here only
// when nothing uses it any more: a non_blocking copy holds its Storage until the transfer ends
// (kernels/copy.cu). Sizes are rounded up to a power of two so blocks are reused across batches
// of slightly different sizes. Never destroyed: storages may die during static destruction.
struct PinnedCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // by capacity
};

PinnedCache& pinned_cache() {
  static PinnedCache& cache = *std::make_unique<PinnedCache>().release();
  return cache;
}

size_t block_capacity(size_t nbytes) {
  size_t capacity = 512;
  while (capacity < nbytes) capacity *= 2;
  return capacity;
}

void* take_cached_block(size_t capacity) {
  PinnedCache& cache = pinned_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto it = cache.free_blocks.find(capacity);
  if (it == cache.free_blocks.end() || it->second.empty()) return nullptr;
  void* ptr = it->second.back();
  it->second.pop_back();
  return ptr;
}

void return_block(void* ptr, size_t capacity) {
  PinnedCache& cache = pinned_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.free_blocks[capacity].push_back(ptr);
}

}  // namespace

std::shared_ptr<Storage> allocate_pinned_storage(size_t nbytes, const char* op) {
  KILN_CHECK(is_available(), op,
             ": pinned memory needs a CUDA device, and none is available (no GPU or no driver)");
  if (nbytes == 0) return std::make_shared<Storage>(nullptr, 0, Device::cpu(), nullptr);
  const size_t capacity = block_capacity(nbytes);
  void* ptr = take_cached_block(capacity);
  if (ptr == nullptr) {
    // Portable: pinned for every device's copies, not only the current one's.
    cudaError_t err = cudaHostAlloc(&ptr, capacity, cudaHostAllocPortable);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      throw OutOfMemoryError(::kiln::detail::concat(op, ": cannot pin ", nbytes, " bytes (",
                                                    format_bytes(nbytes), ") of host memory"));
    }
    if (err != cudaSuccess) {
      ::kiln::cuda::detail::throw_cuda_error(err, op, "cudaHostAlloc(&ptr, capacity, portable)");
    }
  }
  return std::make_shared<Storage>(ptr, nbytes, Device::cpu(),
                                   [capacity](void* p) { return_block(p, capacity); });
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
