// The CPU block cache (src/cpu/host_cache.cpp): freed blocks of at least kMinCachedBytes come
// back for a later request of the same size class; smaller ones are not kept; emptying returns
// every block; blocks are 64-byte aligned; scratch buffers give their block back; tensors reuse
// freed tensors' memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "cpu/host_cache.h"
#include "kiln/ops.h"

namespace {

using kiln::cpu::host_alloc;
using kiln::cpu::host_cached_bytes;
using kiln::cpu::host_empty_cache;
using kiln::cpu::host_free;
using kiln::cpu::HostScratch;
using kiln::cpu::kMinCachedBytes;

TEST(HostCache, LargeBlocksAreReusedWithinTheirSizeClass) {
  host_empty_cache();
  const size_t size = 3 * kMinCachedBytes + 100;
  void* p = host_alloc(size);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  host_free(p, size);
  EXPECT_GE(host_cached_bytes(), size);
  // A slightly different size in the same class (four per power of two) gets the same block.
  void* q = host_alloc(size + 1000);
  EXPECT_EQ(q, p);
  EXPECT_EQ(host_cached_bytes(), 0u);
  host_free(q, size + 1000);
  // Twice the size is another class: a new block.
  void* r = host_alloc(2 * size);
  EXPECT_NE(r, p);
  host_free(r, 2 * size);
  host_empty_cache();
  EXPECT_EQ(host_cached_bytes(), 0u);
}

TEST(HostCache, SmallBlocksAreNotKept) {
  host_empty_cache();
  void* p = host_alloc(1000);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  host_free(p, 1000);
  EXPECT_EQ(host_cached_bytes(), 0u);
}

TEST(HostCache, ScratchReturnsItsBlockAndGrows) {
  host_empty_cache();
  {
    HostScratch<float> s(kMinCachedBytes);  // 4 x kMinCachedBytes bytes
    EXPECT_GE(s.size(), kMinCachedBytes);
    float* first = s.data();
    EXPECT_EQ(s.grow(10), first);  // already large enough: unchanged
    s.grow(2 * kMinCachedBytes);
    EXPECT_GE(s.size(), 2 * kMinCachedBytes);
    EXPECT_GE(host_cached_bytes(), 4 * kMinCachedBytes);  // the first block went back
  }
  EXPECT_GE(host_cached_bytes(), 12 * kMinCachedBytes);
  host_empty_cache();
}

TEST(HostCache, TensorsReuseFreedMemory) {
  host_empty_cache();
  const void* first = nullptr;
  {
    kiln::Tensor t = kiln::zeros({256, 256});  // 256 KiB
    first = t.data_ptr();
  }
  kiln::Tensor u = kiln::ones({256, 256});
  EXPECT_EQ(u.data_ptr(), first);
  EXPECT_EQ(kiln::sum(u).item<float>(), 65536.0f);  // handed out again, then written
}

// Registered a second time by tests/cpp/CMakeLists.txt with KILN_CPU_CACHE_LIMIT_MB=1.
TEST(HostCache, OverTheLimitTheLargestBlocksMakeRoom) {
  const char* limit = std::getenv("KILN_CPU_CACHE_LIMIT_MB");
  if (!limit || std::strcmp(limit, "1") != 0)
    GTEST_SKIP() << "runs as test_host_cache_limit, with KILN_CPU_CACHE_LIMIT_MB=1";
  host_empty_cache();
  const size_t small = size_t(256) << 10, large = size_t(768) << 10;  // both size classes
  void* a = host_alloc(small);
  void* b = host_alloc(small);
  void* c = host_alloc(large);
  host_free(a, small);
  host_free(c, large);  // 256 + 768 KiB: the limit
  EXPECT_EQ(host_cached_bytes(), small + large);
  host_free(b, small);  // over it: the 768 KiB block makes room
  EXPECT_EQ(host_cached_bytes(), 2 * small);
  void* d = host_alloc(small);  // a cached block comes back
  EXPECT_TRUE(d == a || d == b);
  host_free(d, small);
  host_empty_cache();
}

}  // namespace
