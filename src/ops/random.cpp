// Random factories and dropout on the default Philox generator.
#include "kiln/random.h"

#include "core/philox.h"
#include "ops/op_common.h"

namespace kiln {

Generator& Generator::default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) { Generator::default_generator().manual_seed(seed); }

std::array<uint32_t, 4> Philox::block(uint64_t key, uint64_t counter_lo, uint64_t counter_hi) {
  auto b = philox::block(key, counter_lo, counter_hi);
  return {b.w[0], b.w[1], b.w[2], b.w[3]};
}

namespace {
// 64-bit draws use two counters per pair of elements, 32-bit draws one per four elements.
Tensor random_fill(OpId op, const Shape& shape, TensorOptions opt, OpParams p, bool wide,
                   const Tensor& probs = Tensor()) {
  Tensor out = empty(shape, TensorOptions(opt.dtype, opt.device));
  uint64_t n = uint64_t(out.numel());
  Generator& gen = Generator::default_generator();
  uint64_t offset = gen.reserve(wide ? philox::counters_for64(n) : philox::counters_for32(n));
  backend_for(op, opt.device).random(op, out, gen.seed(), offset, p, probs);
  if (opt.requires_grad) out.requires_grad_(true);
  return out;
}
}  // namespace

Tensor rand(const Shape& shape, TensorOptions opt) {
  KILN_CHECK_TYPE(is_floating(opt.dtype), "rand: expected a floating point dtype, got ",
                  dtype_name(opt.dtype));
  OpParams p;
  p.a = 0;
  p.b = 1;
  return random_fill(OpId::Uniform, shape, opt, p, opt.dtype == DType::Float64);
}

Tensor randn(const Shape& shape, TensorOptions opt) {
  KILN_CHECK_TYPE(is_floating(opt.dtype), "randn: expected a floating point dtype, got ",
                  dtype_name(opt.dtype));
  OpParams p;
  p.a = 0;
  p.b = 1;
  return random_fill(OpId::Normal, shape, opt, p, true);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opt) {
  KILN_CHECK_VALUE(low < high, "randint: expected low < high, got low=", low, " high=", high);
  // The bounds travel to the kernels as doubles: keep them exact.
  constexpr int64_t kExact = int64_t(1) << 53;
  KILN_CHECK_VALUE(low >= -kExact && high <= kExact,
                   "randint: bounds beyond +-2^53 are not supported, got [", low, ", ", high, ")");
  OpParams p;
  p.a = double(low);
  p.b = double(high);
  return random_fill(OpId::RandInt, shape, opt, p, true);
}

Tensor rand_like(const Tensor& t) { return rand(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor randn_like(const Tensor& t) {
  return randn(t.shape(), TensorOptions(t.dtype(), t.device()));
}

Tensor bernoulli(const Tensor& probs) {
  check_defined("bernoulli", {&probs});
  check_floating("bernoulli", probs);
  Tensor p = cast_raw(probs, DType::Float64).contiguous();
  return random_fill(OpId::Bernoulli, probs.shape(), TensorOptions(probs.dtype(), probs.device()),
                     {}, false, p);
}

// Inverted dropout: keep each element with probability 1 - p and scale it by 1 / (1 - p).
// The mask is a Philox draw per element, so the CUDA kernel reproduces it bit for bit.
Tensor dropout(const Tensor& x, double p, bool training) {
  check_defined("dropout", {&x});
  KILN_CHECK_VALUE(p >= 0 && p <= 1, "dropout: probability has to be between 0 and 1, got ", p);
  if (!training || p == 0) return x;
  check_floating("dropout", x);
  if (p == 1) return x * 0;
  Tensor keep_probs = full(x.shape(), 1 - p, DType::Float64, x.device());
  Tensor mask = bernoulli(keep_probs).to(x.dtype());
  return x * mask * (1.0 / (1.0 - p));
}

}  // namespace kiln
