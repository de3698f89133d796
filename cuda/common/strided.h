#pragma once
// Element offsets of N same-shape operands with arbitrary strides, for kernels that walk a
// tensor by its row-major linear index. Plain C++ with host/device annotations, so the index
// arithmetic is unit-tested on the CPU (tests/cpp/test_cuda_strided.cpp) even where no GPU is.
//
// Built on the host like the CPU loop geometry (src/cpu/loop.h): size-1 dims dropped, dims that
// every operand steps through as one merged, so a contiguous tensor becomes one dim and costs a
// single division per element.
#include <array>
#include <cstdint>

#include "kiln/error.h"
#include "kiln/tensor.h"

#if defined(__CUDACC__)
#define KILN_STRIDED_HD __host__ __device__ __forceinline__
#else
#define KILN_STRIDED_HD inline
#endif

namespace kiln::cuda {

// Dims left after merging. Kernel arguments carry them by value, and a kernel that indexes them
// with a runtime dim copies them to local memory, so the cap is kept small. A tensor needing more
// (more than 12 dims that no operand lets merge, which takes a 13-D permutation) is refused with
// an error naming the op, never silently wrong; the CPU backend has no such limit.
inline constexpr int kMaxKernelDims = 12;

template <int N>
struct StridedIndexer {
  int ndim = 0;
  int64_t sizes[kMaxKernelDims] = {};
  int64_t strides[N][kMaxKernelDims] = {};  // in elements, innermost dim last

  // offsets[k] = element offset of operand k for row-major linear index i.
  KILN_STRIDED_HD void offsets(int64_t i, int64_t (&out)[N]) const {
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t size = sizes[d];
      const int64_t q = i / size;
      const int64_t r = i - q * size;
      i = q;
      for (int k = 0; k < N; ++k) out[k] += r * strides[k][d];
    }
  }
  KILN_STRIDED_HD int64_t offset(int64_t i, int k = 0) const {
    int64_t o = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t size = sizes[d];
      const int64_t q = i / size;
      o += (i - q * size) * strides[k][d];
      i = q;
    }
    return o;
  }
};

// The indexer for operands of one shape (the shape of ts[0]); `op` names the caller in errors.
template <int N>
StridedIndexer<N> make_indexer(const std::array<const Tensor*, N>& ts, const char* op) {
  const Shape& shape = ts[0]->shape();
  int64_t sizes[kMaxTensorDims];
  int64_t strides[N][kMaxTensorDims];
  int nd = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    sizes[nd] = shape[d];
    for (int k = 0; k < N; ++k) strides[k][nd] = ts[k]->strides()[d];
    ++nd;
  }
  // Merge dim d-1 into d when every operand steps through them as one.
  int merged = 0;
  int64_t msizes[kMaxTensorDims];
  int64_t mstrides[N][kMaxTensorDims];
  for (int d = 0; d < nd; ++d) {
    bool mergeable = merged > 0;
    for (int k = 0; k < N && mergeable; ++k)
      mergeable = mstrides[k][merged - 1] == strides[k][d] * sizes[d];
    if (mergeable) {
      msizes[merged - 1] *= sizes[d];
      for (int k = 0; k < N; ++k) mstrides[k][merged - 1] = strides[k][d];
    } else {
      msizes[merged] = sizes[d];
      for (int k = 0; k < N; ++k) mstrides[k][merged] = strides[k][d];
      ++merged;
    }
  }
  KILN_CHECK(merged <= kMaxKernelDims, op, ": a tensor of shape ", shape_str(shape), " has ",
             merged, " dims that cannot be merged; CUDA kernels take at most ", kMaxKernelDims,
             " (compute it on the CPU, or reshape it to fewer dims first)");
  StridedIndexer<N> ix;
  ix.ndim = merged;
  for (int d = 0; d < merged; ++d) {
    ix.sizes[d] = msizes[d];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = mstrides[k][d];
  }
  return ix;
}

}  // namespace kiln::cuda
