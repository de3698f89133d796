// Batch norm's per-channel sums with AVX-512 (see batch_norm_avx512.h).
//
// Why: built for the baseline x86-64, the portable sums run two doubles per instruction; they
// were a tenth of the small-ResNet training step on the Zen 5 CI machine. Here 16 floats are
// widened to two registers of 8 doubles per step.
#include "cpu/batch_norm_avx512.h"

#include "cpu/avx512.h"

namespace kiln::cpu {
namespace {

// 8 floats from p widened to double; lanes at or past `count` are zero (and not read).
KILN_AVX512 inline __m512d widen(const float* p, int64_t count) {
  const __mmask8 m = __mmask8(first_lanes(count) & 0xFF);
  return _mm512_cvtps_pd(m == 0xFF ? _mm256_loadu_ps(p) : _mm256_maskz_loadu_ps(m, p));
}

}  // namespace

KILN_AVX512 std::array<double, 2> sum_and_squares_avx512(const float* x, int64_t len) {
  __m512d s0 = _mm512_setzero_pd(), s1 = s0, q0 = s0, q1 = s0;
  for (int64_t j = 0; j < len; j += 16) {
    const __m512d a = widen(x + j, len - j), b = widen(x + j + 8, len - j - 8);
    s0 = _mm512_add_pd(s0, a);
    s1 = _mm512_add_pd(s1, b);
    q0 = _mm512_fmadd_pd(a, a, q0);  // a float's square is exact in double: no rounding saved
    q1 = _mm512_fmadd_pd(b, b, q1);
  }
  return {_mm512_reduce_add_pd(_mm512_add_pd(s0, s1)), _mm512_reduce_add_pd(_mm512_add_pd(q0, q1))};
}

KILN_AVX512 std::array<double, 2> sum_and_centered_dot_avx512(const float* dy, const float* x,
                                                              double mean, int64_t len) {
  const __m512d mu = _mm512_set1_pd(mean);
  __m512d s0 = _mm512_setzero_pd(), s1 = s0, p0 = s0, p1 = s0;
  for (int64_t j = 0; j < len; j += 16) {
    const __m512d d0 = widen(dy + j, len - j), d1 = widen(dy + j + 8, len - j - 8);
    const __m512d x0 = _mm512_sub_pd(widen(x + j, len - j), mu);
    const __m512d x1 = _mm512_sub_pd(widen(x + j + 8, len - j - 8), mu);
    s0 = _mm512_add_pd(s0, d0);
    s1 = _mm512_add_pd(s1, d1);
    p0 = _mm512_fmadd_pd(d0, x0, p0);
    p1 = _mm512_fmadd_pd(d1, x1, p1);
  }
  return {_mm512_reduce_add_pd(_mm512_add_pd(s0, s1)), _mm512_reduce_add_pd(_mm512_add_pd(p0, p1))};
}

}  // namespace kiln::cpu
