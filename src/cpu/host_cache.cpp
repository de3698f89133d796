// The CPU block cache (see host_cache.h).
#include "cpu/host_cache.h"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/error.h"

namespace kiln::cpu {
namespace {

constexpr size_t kAlignment = 64;

// The size a block of nbytes is allocated with: below kMinCachedBytes a multiple of the
// alignment (aligned_alloc needs one), above it the next of four steps per power of two.
size_t size_class(size_t nbytes) {
  nbytes = std::max<size_t>(nbytes, 1);
  if (nbytes < kMinCachedBytes) return (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  const int top = 63 - __builtin_clzll(nbytes);  // 2^top <= nbytes
  const size_t step = size_t(1) << (top - 2);
  return (nbytes + step - 1) / step * step;
}

size_t limit_from_environment() {
  const char* value = std::getenv("KILN_CPU_CACHE_LIMIT_MB");
  if (!value || !*value) return size_t(2048) << 20;
  char* end = nullptr;
  const long long mb = std::strtoll(value, &end, 10);
  KILN_CHECK(end && *end == '\0' && mb >= 0 && mb <= (1LL << 30),
             "KILN_CPU_CACHE_LIMIT_MB: expected a number of megabytes from 0 to 2^30, got '", value,
             "'");
  return size_t(mb) << 20;
}

class HostCache {
 public:
  static HostCache& instance() {
    // Never destroyed: tensors freed by other static destructors at exit still return here.
    static HostCache* cache = new HostCache();
    return *cache;
  }

  void* allocate(size_t nbytes) {
    const size_t size = size_class(nbytes);
    if (size >= kMinCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlignment, size);
    if (!p) {  // the cache may hold what the system lacks
      empty();
      p = std::aligned_alloc(kAlignment, size);
    }
    KILN_CHECK(p != nullptr, "out of memory: could not allocate ", nbytes, " bytes on the CPU");
    return p;
  }

  // Runs in tensor destructors: never throws.
  void release(void* p, size_t nbytes) noexcept {
    const size_t size = size_class(nbytes);
    if (size >= kMinCachedBytes && size <= limit_) {
      std::lock_guard<std::mutex> lock(mutex_);
      // Over the limit, blocks of other sizes make room: the sizes in use now are kept, and
      // blocks of shapes a program has moved on from do not fill the cache for good.
      while (cached_ + size > limit_) evict_one();
      try {
        free_[size].push_back(p);
        cached_ += size;
        return;
      } catch (...) {  // no memory for the free list: give the block back instead
      }
    }
    std::free(p);
  }

  void empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_ = 0;
  }

  // Frees one cached block, of the largest size class (the caller holds the lock and has checked
  // that the cache holds something).
  void evict_one() {
    auto largest = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (!it->second.empty() && (largest == free_.end() || it->first > largest->first))
        largest = it;
    std::free(largest->second.back());
    largest->second.pop_back();
    cached_ -= largest->first;
    if (largest->second.empty()) free_.erase(largest);
  }

  size_t cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

 private:
  HostCache() : limit_(limit_from_environment()) {
    // A fork while another thread holds the lock would leave the child's copy locked forever.
    pthread_atfork([] { instance().mutex_.lock(); }, [] { instance().mutex_.unlock(); },
                   [] { instance().mutex_.unlock(); });
  }

  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // size class -> blocks
  size_t cached_ = 0;
  const size_t limit_;
};

}  // namespace

void* host_alloc(size_t nbytes) { return HostCache::instance().allocate(nbytes); }
void host_free(void* p, size_t nbytes) { HostCache::instance().release(p, nbytes); }
void host_empty_cache() { HostCache::instance().empty(); }
size_t host_cached_bytes() { return HostCache::instance().cached(); }

}  // namespace kiln::cpu
