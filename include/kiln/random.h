#pragma once
// Counter-based random numbers (Philox4x32-10). The bits of element i of a random op depend only
// on (seed, offset, i): the same on every backend and for every launch shape. Each random op
// takes the generator's current offset and advances it by the counters it used.
#include <array>
#include <cstdint>

namespace kiln {

void manual_seed(uint64_t seed);

struct Philox {
  // One Philox4x32-10 block: 4 random words for `counter` under `key`.
  static std::array<uint32_t, 4> block(uint64_t key, uint64_t counter_lo, uint64_t counter_hi);
};

// The default generator: a seed and an offset (in Philox counters consumed so far).
class Generator {
 public:
  static Generator& default_generator();
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }
  // Reserves `counters` Philox counters; returns the offset of the first.
  uint64_t reserve(uint64_t counters) {
    uint64_t o = offset_;
    offset_ += counters;
    return o;
  }

 private:
  uint64_t seed_ = 67280421310721ull;
  uint64_t offset_ = 0;
};

}  // namespace kiln
