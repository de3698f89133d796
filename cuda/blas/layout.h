#pragma once
// How a row-major matrix product maps onto cuBLASLt, which is column-major. Plain C++ (no CUDA
// headers) so that the mapping is unit-tested on the CPU (tests/cpp/test_linear_fused.cpp).
//
// Kiln computes C[M, N] = A[M, K] @ B[K, N] with C row-major (contiguous). A row-major M x N
// matrix is the column-major N x M matrix C^T, and C^T = B^T @ A^T, so cuBLASLt is asked for
//   D (N x M, column-major, ld N) = op(LA) @ op(LB),  LA from B (op(LA) = B^T, N x K),
//                                                     LB from A (op(LB) = A^T, K x M).
// An operand whose rows or columns are unit-stride maps without a copy; others are copied.
#include <algorithm>
#include <cstdint>

namespace kiln::cuda::blas {

// A stored column-major matrix (rows x cols, leading dimension ld) and whether cuBLASLt must
// transpose it (CUBLAS_OP_T) to get the operand it multiplies.
struct LtOperand {
  bool transpose = false;
  int64_t rows = 0, cols = 0, ld = 1;
};

// For the logical row-major R x C matrix X with element strides (sr, sc): describes X^T
// (C x R) as op(L). False when neither stride is unit (the caller makes a contiguous copy).
// A dimension of size 1 has no meaningful stride, so it never prevents a match.
inline bool lt_operand(int64_t r, int64_t c, int64_t sr, int64_t sc, LtOperand& out) {
  const int64_t rows = std::max<int64_t>(r, 1), cols = std::max<int64_t>(c, 1);
  if ((c == 1 || sc == 1) && (r == 1 || sr >= cols)) {
    // X row-major with leading dimension sr: its memory is X^T column-major, used as it is.
    out.transpose = false;
    out.rows = c;
    out.cols = r;
    out.ld = r == 1 ? cols : sr;
    return true;
  }
  if ((r == 1 || sr == 1) && (c == 1 || sc >= rows)) {
    // X column-major with leading dimension sc: X^T is its transpose.
    out.transpose = true;
    out.rows = r;
    out.cols = c;
    out.ld = c == 1 ? rows : sc;
    return true;
  }
  return false;
}

// The largest power of two (at most 256, cuBLASLt's default requirement) dividing every one of
// the byte quantities: a base address and, for batched operands, the batch stride in bytes.
inline uint32_t alignment_of(uint64_t address, uint64_t batch_stride_bytes = 0) {
  uint64_t v = address | batch_stride_bytes | 256;
  return uint32_t(v & (~v + 1));
}

}  // namespace kiln::cuda::blas
