#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), shared
// by the CPU kernels and the CUDA kernels so both produce the same bits for the same element.
//
// Element i of a random op started at generator offset `o` uses:
//   32-bit draws (uniform float32/16, bernoulli, dropout): block(o + i/4), word i%4
//   64-bit draws (uniform float64, normal via Box-Muller, randint): block(o + i/2), words
//   2(i%2) and 2(i%2)+1
// so the result never depends on how the work is split across threads or CUDA blocks.
#include <array>
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define KILN_HOST_DEVICE inline
#endif

namespace kiln::philox {

struct Block {
  uint32_t w[4];
};

KILN_HOST_DEVICE uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

KILN_HOST_DEVICE Block block(uint64_t key, uint64_t counter_lo, uint64_t counter_hi = 0) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0 = uint32_t(counter_lo), c1 = uint32_t(counter_lo >> 32);
  uint32_t c2 = uint32_t(counter_hi), c3 = uint32_t(counter_hi >> 32);
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(kM0, c0, &hi0);
    uint32_t lo1 = mulhilo(kM1, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += kW0, k1 += kW1;
  }
  return Block{{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 24 random bits (exactly representable in float32).
KILN_HOST_DEVICE float uniform32(uint64_t seed, uint64_t offset, uint64_t i) {
  uint32_t w = block(seed, offset + i / 4).w[i % 4];
  return float(w >> 8) * (1.0f / 16777216.0f);
}

KILN_HOST_DEVICE uint64_t bits64(uint64_t seed, uint64_t offset, uint64_t i) {
  Block b = block(seed, offset + i / 2);
  uint32_t j = uint32_t(i % 2) * 2;
  return (uint64_t(b.w[j]) << 32) | b.w[j + 1];
}

// Uniform in [0, 1) with 53 random bits.
KILN_HOST_DEVICE double uniform64(uint64_t seed, uint64_t offset, uint64_t i) {
  return double(bits64(seed, offset, i) >> 11) * (1.0 / 9007199254740992.0);
}

// Standard normal by Box-Muller on the two 32-bit halves of the element's 64-bit draw.
KILN_HOST_DEVICE double normal(uint64_t seed, uint64_t offset, uint64_t i) {
  uint64_t b = bits64(seed, offset, i);
  // u1 in (0, 1] so the log is finite; u2 in [0, 1).
  double u1 = (double(uint32_t(b >> 32)) + 1.0) * (1.0 / 4294967296.0);
  double u2 = double(uint32_t(b)) * (1.0 / 4294967296.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Counters a random op over n elements consumes.
KILN_HOST_DEVICE uint64_t counters_for32(uint64_t n) { return (n + 3) / 4; }
KILN_HOST_DEVICE uint64_t counters_for64(uint64_t n) { return (n + 1) / 2; }

}  // namespace kiln::philox
