#pragma once
// float32 matrix products for the convolution kernels: AVX-512 micro-kernels when the CPU has
// AVX-512, OpenBLAS otherwise.
//
// Why not always OpenBLAS: its kernel is chosen when it loads, and an older OpenBLAS (0.3.21,
// Debian 12's) runs its AVX2 kernels on CPUs it does not know, such as AMD's Zen 5 of the CI
// machine; an environment may also pin OPENBLAS_CORETYPE. The convolutions' products are
// narrow (M = output channels per group, often 16-64) and their operands are already laid out
// row by row, so the kernels here work on them in place, without packing: on the 2-core Zen 5
// machine they ran those products about twice as fast as OpenBLAS's AVX2 kernels.
#include <cstdint>

namespace kiln::cpu {

// Row-major C [m, n] = op(A) [m, k] @ op(B) [k, n] + beta * C, op transposing when ta / tb
// (A stored [k, m], B stored [n, k]); lda, ldb, ldc in elements. With beta 0, C is only written
// (its old contents, even NaN, are ignored), as BLAS does; the AVX-512 kernels take beta 0 or 1
// and pass other values to OpenBLAS.
void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// sgemm uses them when avx512_enabled() (cpu/isa.h), else OpenBLAS. The AVX-512 kernels
// themselves, for the tests; only on a CPU with cpu_has_avx512().
void sgemm_avx512(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace kiln::cpu
