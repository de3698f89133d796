// The float32 products behind the CPU convolutions (src/cpu/sgemm.cpp): the AVX-512 kernels
// against a float64 loop, over every transpose combination, sizes that fill and that leave
// partial blocks (rows, columns and depth below, at and above the block sizes), leading
// dimensions wider than the matrices, beta 0 (old C ignored, even NaN) and 1 (added to), the
// depth blocking (k above 256) and both routes of A @ B^T (dot products, and transposed for
// n >= 64). The dispatching sgemm() is checked the same way, whichever path this CPU takes.
// Without AVX-512 the kernel tests skip with a message.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "cpu/isa.h"
#include "cpu/sgemm.h"

namespace {

using kiln::cpu::sgemm;
using kiln::cpu::sgemm_avx512;

struct Problem {
  bool ta, tb;
  int64_t m, n, k;
};

// Deterministic values in [-1, 1].
std::vector<float> values(size_t count, float phase) {
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i) v[i] = std::sin(0.37f * float(i) + phase);
  return v;
}

template <class Gemm>
void check(const Problem& p, float beta, Gemm&& gemm) {
  // Operands with leading dimensions 3 wider than their rows, so that a kernel reading past a
  // row's end or ignoring ld gives wrong numbers.
  const int64_t arows = p.ta ? p.k : p.m, acols = p.ta ? p.m : p.k;
  const int64_t brows = p.tb ? p.n : p.k, bcols = p.tb ? p.k : p.n;
  const int64_t lda = acols + 3, ldb = bcols + 3, ldc = p.n + 3;
  const std::vector<float> a = values(size_t(arows * lda), 0.1f),
                           b = values(size_t(brows * ldb), 0.7f);
  std::vector<float> c = values(size_t(p.m * ldc), 1.3f);
  const std::vector<float> c0 = c;
  if (beta == 0.0f)  // the old contents must be ignored, NaN included
    for (int64_t i = 0; i < p.m; ++i) c[size_t(i * ldc)] = std::numeric_limits<float>::quiet_NaN();
  gemm(p.ta, p.tb, p.m, p.n, p.k, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c[size_t(i * ldc + j)];
      if (j >= p.n) {  // the padding between rows is never written
        ASSERT_EQ(got, c0[size_t(i * ldc + j)]) << "wrote past column " << p.n;
        continue;
      }
      double want = beta == 0.0f ? 0.0 : double(beta) * double(c0[size_t(i * ldc + j)]);
      for (int64_t l = 0; l < p.k; ++l) {
        const double av = a[size_t(p.ta ? l * lda + i : i * lda + l)];
        const double bv = b[size_t(p.tb ? j * ldb + l : l * ldb + j)];
        want += av * bv;
      }
      ASSERT_NEAR(got, want, 1e-5 * (1.0 + double(p.k)))
          << "ta=" << p.ta << " tb=" << p.tb << " m=" << p.m << " n=" << p.n << " k=" << p.k
          << " beta=" << beta << " at (" << i << ", " << j << ")";
    }
}

std::vector<Problem> problems() {
  std::vector<Problem> out;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t m : {1, 3, 8, 13, 16, 64})
        for (int64_t n : {1, 5, 16, 17, 32, 45, 70})
          for (int64_t k : {1, 7, 16, 33, 300}) out.push_back({ta, tb, m, n, k});
  return out;
}

TEST(Sgemm, Avx512KernelsMatchFloat64) {
  if (!kiln::cpu::cpu_has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  for (const Problem& p : problems())
    for (float beta : {0.0f, 1.0f}) check(p, beta, sgemm_avx512);
}

TEST(Sgemm, DispatchMatchesFloat64) {
  for (const Problem& p : problems())
    for (float beta : {0.0f, 1.0f}) check(p, beta, sgemm);
}

TEST(Sgemm, OtherBetaAndEmptySums) {
  for (auto gemm : {&sgemm, &sgemm_avx512}) {
    if (gemm == &sgemm_avx512 && !kiln::cpu::cpu_has_avx512()) continue;
    check({false, false, 5, 7, 9}, 0.5f, gemm);
    // k = 0: C = beta C
    std::vector<float> c(6, std::numeric_limits<float>::quiet_NaN());
    gemm(false, false, 2, 3, 0, nullptr, 1, nullptr, 3, 0.0f, c.data(), 3);
    for (float v : c) EXPECT_EQ(v, 0.0f);
    std::vector<float> d(6, 2.0f);
    gemm(false, true, 2, 3, 0, nullptr, 1, nullptr, 1, 1.0f, d.data(), 3);
    for (float v : d) EXPECT_EQ(v, 2.0f);
  }
}

}  // namespace
