// The Philox4x32-10 generator and the random ops built on it.
#include "core/philox.h"
#include "test_util.h"

namespace kiln::testing {
namespace {

// Known-answer vectors from the Random123 distribution (kat_vectors, philox4x32_10).
TEST(Philox, KnownAnswers) {
  auto b = Philox::block(0, 0, 0);
  EXPECT_EQ(b, (std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  b = Philox::block(0xffffffffffffffffull, 0xffffffffffffffffull, 0xffffffffffffffffull);
  EXPECT_EQ(b, (std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  // counter {243f6a88, 85a308d3, 13198a2e, 03707344}, key {a4093822, 299f31d0}
  b = Philox::block(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull);
  EXPECT_EQ(b, (std::array<uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

// Element i depends only on (seed, offset, i): a slice of a big draw equals the same elements
// drawn alone at the matching offset, whatever the thread count.
TEST(Philox, ElementsDependOnlyOnSeedOffsetAndIndex) {
  manual_seed(5);
  Tensor big = rand({100000});  // large enough to run on several threads
  auto all = big.to_vector();
  for (uint64_t i : {0ull, 1ull, 3ull, 4ull, 77777ull, 99999ull}) {
    float u = philox::uniform32(5, 0, i);
    EXPECT_EQ(float(all[i]), u) << i;
  }
  EXPECT_EQ(Generator::default_generator().offset(), philox::counters_for32(100000));
}

TEST(Dropout, MaskScaleAndDeterminism) {
  Tensor x = ones({200, 50});
  manual_seed(17);
  Tensor y = dropout(x, 0.25, true);
  manual_seed(17);
  Tensor y2 = dropout(x, 0.25, true);
  EXPECT_TRUE(equal(y, y2));
  auto v = y.to_vector();
  size_t kept = 0;
  for (double e : v) {
    EXPECT_TRUE(e == 0.0 || std::abs(e - 1.0 / 0.75) < 1e-6) << e;
    kept += e != 0.0;
  }
  EXPECT_NEAR(double(kept) / double(v.size()), 0.75, 0.02);
  EXPECT_TRUE(dropout(x, 0.25, false).is_same(x));  // identity in eval
  // The same mask in float64 and bfloat16 (the bits do not depend on the dtype).
  manual_seed(17);
  Tensor y64 = dropout(x.to(DType::Float64), 0.25, true);
  EXPECT_TRUE(equal(ne(y64, zeros({})), ne(y, zeros({}))));
  // Gradient flows through kept elements only, scaled.
  Tensor w = ones({4, 4}, DType::Float64).requires_grad_(true);
  manual_seed(3);
  Tensor out = dropout(w, 0.5, true);
  sum(out).backward();
  expect_close(w.grad(), out.detach(), 0, 0, "dropout grad equals mask * scale");
}

TEST(Bernoulli, Probabilities) {
  manual_seed(8);
  Tensor p = full({10000}, 0.3, DType::Float32);
  Tensor s = bernoulli(p);
  EXPECT_NEAR(mean(s).item(), 0.3, 0.02);
}

}  // namespace
}  // namespace kiln::testing
