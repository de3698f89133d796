#pragma once
// CPU memory for tensors and kernel scratch, with large blocks kept for reuse.
//
// Why: a training step allocates and frees the same large buffers (activations, gradients,
// im2col columns) every iteration. glibc serves blocks above its mmap threshold with fresh
// mmap'd pages, so every step paid one page fault per 4 KiB touched (measured on the 2-core CI
// machine, a VM: about 2,600 faults and 4 ms of a 45 ms small-ResNet step). Freed blocks of at
// least kMinCachedBytes are kept on per-size-class free lists and handed out again, their pages
// already mapped; smaller ones go straight to the system allocator, which reuses them well.
//
// Size classes have four steps per power of two, so a reused block wastes at most a quarter of
// its size. The cache holds at most KILN_CPU_CACHE_LIMIT_MB megabytes (default 2048; 0 turns
// caching off): a freed block that would exceed it first evicts cached blocks of the largest
// classes, so the sizes in use stay cached. An allocation the system refuses empties the cache
// and tries once more. Thread-safe.
#include <cstddef>

namespace kiln::cpu {

inline constexpr size_t kMinCachedBytes = size_t(64) << 10;

// 64-byte aligned memory for at least nbytes (at least 1); throws "out of memory" naming the
// size when the system has none.
void* host_alloc(size_t nbytes);
// Returns a block from host_alloc(nbytes) (the same nbytes).
void host_free(void* p, size_t nbytes);
// Returns every cached block to the system.
void host_empty_cache();
// Bytes held in the cache, not in use.
size_t host_cached_bytes();

// A kernel's uninitialised scratch memory of `count` T from the cache, returned when it goes out
// of scope; grow() enlarges it (discarding the contents).
template <class T>
class HostScratch {
 public:
  HostScratch() = default;
  explicit HostScratch(size_t count) { grow(count); }
  ~HostScratch() { release(); }
  HostScratch(const HostScratch&) = delete;
  HostScratch& operator=(const HostScratch&) = delete;

  // At least `count` elements.
  T* grow(size_t count) {
    if (count > count_) {
      release();
      data_ = static_cast<T*>(host_alloc(count * sizeof(T)));
      count_ = count;
    }
    return data_;
  }
  T* data() const { return data_; }
  size_t size() const { return count_; }

 private:
  void release() {
    if (data_) host_free(data_, count_ * sizeof(T));
    data_ = nullptr;
    count_ = 0;
  }
  T* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace kiln::cpu
