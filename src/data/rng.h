#pragma once
// Random numbers for the data pipeline, built only on std::mt19937_64 (whose output sequence the
// standard fixes) and on our own conversions: std::uniform_*_distribution and std::shuffle differ
// between standard libraries, and a seed must give the same batches everywhere.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace kiln::data::detail {

// SplitMix64 finalizer: decorrelates seeds that differ in a few bits (seed, seed + 1, ...).
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A seed derived from a base seed and a tuple of counters (epoch, batch, purpose).
inline uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  return mix64(mix64(mix64(mix64(seed) ^ a) ^ b) ^ c);
}

// Uniform double in [0, 1) with 53 random bits.
inline double uniform01(std::mt19937_64& gen) { return double(gen() >> 11) * 0x1.0p-53; }

inline double uniform(std::mt19937_64& gen, double lo, double hi) {
  return lo + (hi - lo) * uniform01(gen);
}

// Uniform integer in [0, n), n > 0, without modulo bias (Lemire's multiply-and-reject).
inline uint64_t uniform_below(std::mt19937_64& gen, uint64_t n) {
  unsigned __int128 m = (unsigned __int128)gen() * n;
  auto low = uint64_t(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = (unsigned __int128)gen() * n;
      low = uint64_t(m);
    }
  }
  return uint64_t(m >> 64);
}

// Standard normal (Box-Muller; one value per call keeps the stream position simple).
inline double normal01(std::mt19937_64& gen) {
  double u1 = 1.0 - uniform01(gen);  // (0, 1]: log is finite
  double u2 = uniform01(gen);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// The permutation 0..n-1 by Fisher-Yates.
inline std::vector<int64_t> permutation(int64_t n, std::mt19937_64& gen) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = int64_t(uniform_below(gen, uint64_t(i) + 1));
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

}  // namespace kiln::data::detail
