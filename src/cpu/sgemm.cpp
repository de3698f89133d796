// float32 matrix products (see sgemm.h): AVX-512 micro-kernels over the operands in place, or
// OpenBLAS.
//
// Two kernel shapes cover the convolutions' products:
// - B not transposed (C = A @ B, C = A^T @ B): a block of C of up to 8 rows x 32 columns lives
//   in 16 registers; each step of k loads 32 values of B's row k and multiplies them by 8
//   broadcast values of A. B's rows are read where they are, 256 of them at a time so that the
//   strip stays in L1 while every block of rows of A passes over it.
// - B transposed (C = A @ B^T, both read along k): 4 x 4 dot products of rows of A and rows of
//   B, 16 values of k per step, each summed across its register at the end.
// Edges are handled with masked loads and stores (masked-off lanes are never touched, so
// nothing past an operand is read). The functions carry their own target attribute, so the
// rest of the library stays built for the baseline CPU; sgemm() only calls them when
// avx512_enabled() (cpu/isa.h).
#include "cpu/sgemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "cpu/avx512.h"
#include "cpu/host_cache.h"
#include "cpu/isa.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kRows = 8;     // rows of C per block (broadcast kernel)
constexpr int64_t kCols = 32;    // columns of C per block: two registers
constexpr int64_t kDepth = 256;  // values of k per pass
// m * n * k from which sgemm_avx512 splits a product across threads: 32 MFLOP, ~140 us on one
// core. Waking threads that wait passively (OMP_WAIT_POLICY=PASSIVE, which the Python package
// sets) costs tens of microseconds: at 1 MFLOP a batch-1 Winograd layer ran 1.5x slower on two
// threads than on one.
constexpr double kParallelWork = double(1 << 24);

// C [rows, <= 32 columns] (+)= op(A) [rows, depth] @ B [depth, columns]. a is A(i0, k0): element
// (i, k) at a[i * lda + k], or a[k * lda + i] when A is stored transposed (kTransA).
template <int kR, bool kTransA, int kVectors>
KILN_AVX512 void block_broadcast(int64_t depth, const float* a, int64_t lda, const float* b,
                                 int64_t ldb, float* c, int64_t ldc, __mmask16 m0, __mmask16 m1,
                                 bool accumulate) {
  __m512 acc[kR][kVectors];
#pragma GCC unroll 8
  for (int i = 0; i < kR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < kVectors; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < depth; ++k) {
    const float* brow = b + k * ldb;
    __m512 bv[kVectors];
    bv[0] = load_lanes(m0, brow);
    if constexpr (kVectors == 2) bv[1] = load_lanes(m1, brow + 16);
#pragma GCC unroll 8
    for (int i = 0; i < kR; ++i) {
      const __m512 av = _mm512_set1_ps(kTransA ? a[k * lda + i] : a[i * lda + k]);
#pragma GCC unroll 2
      for (int v = 0; v < kVectors; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < kR; ++i) {
    float* crow = c + i * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < kVectors; ++v) {
      const __mmask16 m = v == 0 ? m0 : m1;
      __m512 r = acc[i][v];
      if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, crow + 16 * v));
      _mm512_mask_storeu_ps(crow + 16 * v, m, r);
    }
  }
}

template <bool kTransA, int kVectors>
KILN_AVX512 void block_broadcast_rows(int64_t rows, int64_t depth, const float* a, int64_t lda,
                                      const float* b, int64_t ldb, float* c, int64_t ldc,
                                      __mmask16 m0, __mmask16 m1, bool accumulate) {
  switch (rows) {
#define KILN_ROWS_CASE(r)                                                                     \
  case r:                                                                                     \
    block_broadcast<r, kTransA, kVectors>(depth, a, lda, b, ldb, c, ldc, m0, m1, accumulate); \
    break;
    KILN_ROWS_CASE(1)
    KILN_ROWS_CASE(2)
    KILN_ROWS_CASE(3)
    KILN_ROWS_CASE(4)
    KILN_ROWS_CASE(5)
    KILN_ROWS_CASE(6)
    KILN_ROWS_CASE(7)
    KILN_ROWS_CASE(8)
#undef KILN_ROWS_CASE
    default:
      break;
  }
}

// C = op(A) @ B (+ C when accumulate), B not transposed.
template <bool kTransA>
KILN_AVX512 void gemm_broadcast(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                                const float* b, int64_t ldb, float* c, int64_t ldc,
                                bool accumulate) {
  for (int64_t k0 = 0; k0 < k; k0 += kDepth) {
    const int64_t depth = k - k0 < kDepth ? k - k0 : kDepth;
    const bool acc = accumulate || k0 > 0;
    for (int64_t j0 = 0; j0 < n; j0 += kCols) {
      const __mmask16 m0 = first_lanes(n - j0), m1 = first_lanes(n - j0 - 16);
      const float* bb = b + k0 * ldb + j0;
      for (int64_t i0 = 0; i0 < m; i0 += kRows) {
        const int64_t rows = m - i0 < kRows ? m - i0 : kRows;
        const float* aa = kTransA ? a + k0 * lda + i0 : a + i0 * lda + k0;
        float* cc = c + i0 * ldc + j0;
        if (m1)
          block_broadcast_rows<kTransA, 2>(rows, depth, aa, lda, bb, ldb, cc, ldc, m0, m1, acc);
        else
          block_broadcast_rows<kTransA, 1>(rows, depth, aa, lda, bb, ldb, cc, ldc, m0, m1, acc);
      }
    }
  }
}

// {sum of v0's lanes, of v1's, of v2's, of v3's}.
KILN_AVX512 inline __m128 sum_each(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
  // Within each 128-bit lane: {v0[0]+v0[2], v1[0]+v1[2], v0[1]+v0[3], v1[1]+v1[3]}, and so for v2,
  // v3.
  const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(v0, v1), _mm512_unpackhi_ps(v0, v1));
  const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(v2, v3), _mm512_unpackhi_ps(v2, v3));
  // Each lane now holds one partial sum of every vector: {v0, v1, v2, v3}.
  const __m512 u = _mm512_add_ps(_mm512_shuffle_ps(t0, t1, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 2, 3, 2)));
  // Add the four lanes.
  const __m512 h = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, _MM_SHUFFLE(1, 0, 3, 2)));
  const __m512 q = _mm512_add_ps(h, _mm512_shuffle_f32x4(h, h, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_castps512_ps128(q);
}

// C = A @ B^T (+ C when accumulate): C(i, j) = dot(A row i, B row j), rows read along k.
KILN_AVX512 void gemm_dot(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                          const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  constexpr int64_t kR = 4, kC = 4;
  const int64_t full = k / 16 * 16;
  const __mmask16 tail = first_lanes(k - full);
  for (int64_t j0 = 0; j0 < n; j0 += kC) {
    const float* brow[kC];
    for (int64_t j = 0; j < kC; ++j) brow[j] = b + (j0 + j < n ? j0 + j : n - 1) * ldb;
    for (int64_t i0 = 0; i0 < m; i0 += kR) {
      const float* arow[kR];
      for (int64_t i = 0; i < kR; ++i) arow[i] = a + (i0 + i < m ? i0 + i : m - 1) * lda;
      __m512 acc[kR][kC];
#pragma GCC unroll 4
      for (int i = 0; i < kR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < kC; ++j) acc[i][j] = _mm512_setzero_ps();
      for (int64_t kk = 0; kk < full; kk += 16) {
        __m512 bv[kC];
#pragma GCC unroll 4
        for (int j = 0; j < kC; ++j) bv[j] = _mm512_loadu_ps(brow[j] + kk);
#pragma GCC unroll 4
        for (int i = 0; i < kR; ++i) {
          const __m512 av = _mm512_loadu_ps(arow[i] + kk);
#pragma GCC unroll 4
          for (int j = 0; j < kC; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
      }
      if (tail) {
        __m512 bv[kC];
#pragma GCC unroll 4
        for (int j = 0; j < kC; ++j) bv[j] = _mm512_maskz_loadu_ps(tail, brow[j] + full);
#pragma GCC unroll 4
        for (int i = 0; i < kR; ++i) {
          const __m512 av = _mm512_maskz_loadu_ps(tail, arow[i] + full);
#pragma GCC unroll 4
          for (int j = 0; j < kC; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
      }
      const __mmask8 valid = __mmask8(first_lanes(n - j0) & 0xF);
      for (int64_t i = 0; i < kR && i0 + i < m; ++i) {
        float* out = c + (i0 + i) * ldc + j0;
        __m128 sums = sum_each(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
        if (accumulate) sums = _mm_add_ps(sums, _mm_maskz_loadu_ps(valid, out));
        _mm_mask_storeu_ps(out, valid, sums);
      }
    }
  }
}

// C = A @ B^T (+ C when accumulate) as its transpose C^T = B @ A^T, so that the broadcast kernel
// (twice the dot kernel's speed: 240 vs 110 GFLOP/s on the Zen 5 CI machine) does the work:
// A^T [k, m] is copied out first, and C^T [n, m] is added into C transposed at the end. Both
// copies are small beside the product when m (a convolution's output channels) is small and k
// large, the weight gradients' shape; the dot kernel stays for narrow or short products
// (n < 64 or k < 32), where the copies would not pay (a 16 x 27 x 1024 product ran at 107
// GFLOP/s with dot products and 83 transposed).
void gemm_transposed_b(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                       int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (n < 64 || k < 32) {
    gemm_dot(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return;
  }
  HostScratch<float> at(size_t(k * m)), ct(size_t(n * m));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t l = 0; l < k; ++l) at.data()[l * m + i] = a[i * lda + l];
  gemm_broadcast<false>(n, m, k, b, ldb, at.data(), m, ct.data(), m, false);
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    const float* col = ct.data() + i;
    if (accumulate)
      for (int64_t j = 0; j < n; ++j) row[j] += col[j * m];
    else
      for (int64_t j = 0; j < n; ++j) row[j] = col[j * m];
  }
}

void openblas_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
              int(n), int(k), 1.0f, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

void sgemm_one_thread(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a,
                      int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if ((beta != 0.0f && beta != 1.0f) || (ta && tb)) {  // not needed by the convolutions
    openblas_sgemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const bool accumulate = beta != 0.0f;
  if (k <= 0) {  // an empty sum
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::memset(c + i * ldc, 0, size_t(n) * sizeof(float));
    return;
  }
  if (!tb) {
    if (ta)
      gemm_broadcast<true>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    else
      gemm_broadcast<false>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
  } else {
    gemm_transposed_b(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
  }
}

}  // namespace

// Outside a parallel region (a batch of one sample, or the caller's own loop) the product is
// split across the OpenMP threads, by columns of C, or by rows when C is taller than wide:
// without this, a batch-1 convolution would use one core where OpenBLAS used them all.
void sgemm_avx512(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads < 2 || double(m) * double(n) * double(k) < kParallelWork) {
    sgemm_one_thread(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  if (n >= m) {
    const int64_t width = (n + threads - 1) / threads, chunk = (width + kCols - 1) / kCols * kCols;
    const int64_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(int(chunks)) schedule(static)
    for (int64_t q = 0; q < chunks; ++q) {
      const int64_t j = q * chunk;  // columns [j, j + cols) of C are rows (tb) or columns of B
      sgemm_one_thread(ta, tb, m, std::min(chunk, n - j), k, a, lda, tb ? b + j * ldb : b + j, ldb,
                       beta, c + j, ldc);
    }
  } else {
    const int64_t height = (m + threads - 1) / threads,
                  chunk = (height + kRows - 1) / kRows * kRows;
    const int64_t chunks = (m + chunk - 1) / chunk;
#pragma omp parallel for num_threads(int(chunks)) schedule(static)
    for (int64_t q = 0; q < chunks; ++q) {
      const int64_t i = q * chunk;  // rows [i, i + rows) of C are columns (ta) or rows of A
      sgemm_one_thread(ta, tb, std::min(chunk, m - i), n, k, ta ? a + i : a + i * lda, lda, b, ldb,
                       beta, c + i * ldc, ldc);
    }
  }
}

void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (avx512_enabled()) {
    sgemm_avx512(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  if (m > 0 && n > 0) openblas_sgemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace kiln::cpu
