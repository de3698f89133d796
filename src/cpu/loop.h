#pragma once
// The strided loop every CPU elementwise kernel runs on. N operands of one shape, each with its
// own strides, are walked in row-major order. Dimensions that are contiguous across all operands
// are merged first, so the common case is one long inner loop with constant strides that the
// compiler vectorises. Rows are split across OpenMP threads for large tensors.
#include <omp.h>

#include <array>
#include <cstdint>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::cpu {

inline constexpr int64_t kParallelGrain = 32768;  // elements below which threads cost more

template <size_t N>
struct LoopGeometry {
  std::vector<int64_t> shape;                   // after merging; innermost last
  std::array<std::vector<int64_t>, N> strides;  // in bytes
  std::array<char*, N> base;
};

template <size_t N>
LoopGeometry<N> make_geometry(const std::array<const Tensor*, N>& ts) {
  const Shape& shape = ts[0]->shape();
  LoopGeometry<N> g;
  for (size_t k = 0; k < N; ++k) g.base[k] = static_cast<char*>(ts[k]->data_ptr());
  // Keep dims of size > 1.
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    g.shape.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k)
      g.strides[k].push_back(ts[k]->strides()[d] * int64_t(element_size(ts[k]->dtype())));
  }
  // Merge dim d into d+1 when every operand steps through them as one.
  for (size_t d = g.shape.size(); d-- > 1;) {
    bool mergeable = true;
    for (size_t k = 0; k < N; ++k)
      mergeable = mergeable && g.strides[k][d - 1] == g.strides[k][d] * g.shape[d];
    if (!mergeable) continue;
    g.shape[d - 1] *= g.shape[d];
    g.shape.erase(g.shape.begin() + int64_t(d));
    // The merged dim steps like the inner one: keep the inner stride.
    for (size_t k = 0; k < N; ++k) g.strides[k].erase(g.strides[k].begin() + int64_t(d) - 1);
  }
  return g;
}

// inner(std::array<char*, N> ptrs, std::array<int64_t, N> byte_strides, int64_t n)
template <size_t N, class Inner>
void for_each_strided(const std::array<const Tensor*, N>& ts, Inner&& inner) {
  int64_t numel = ts[0]->numel();
  if (numel == 0) return;
  LoopGeometry<N> g = make_geometry(ts);
  if (g.shape.empty()) {  // a single element
    inner(g.base, std::array<int64_t, N>{}, int64_t(1));
    return;
  }
  const size_t nd = g.shape.size();
  const int64_t inner_n = g.shape[nd - 1];
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = g.strides[k][nd - 1];
  const int64_t rows = numel / inner_n;

  if (rows == 1) {  // one long row: split it
    const int64_t chunks =
        numel >= kParallelGrain ? (numel + kParallelGrain - 1) / kParallelGrain : 1;
#pragma omp parallel for if (chunks > 1) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t begin = c * inner_n / chunks, end = (c + 1) * inner_n / chunks;
      std::array<char*, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = g.base[k] + begin * inner_strides[k];
      inner(p, inner_strides, end - begin);
    }
    return;
  }

  const bool parallel = numel >= kParallelGrain;
#pragma omp parallel if (parallel)
  {
    int64_t begin = 0, end = rows;
    int nthreads = omp_get_num_threads(), tid = omp_get_thread_num();
    begin = rows * tid / nthreads;
    end = rows * (tid + 1) / nthreads;
    if (begin < end) {
      // Multi-index of row `begin` over the outer dims.
      std::array<int64_t, kMaxTensorDims> idx{};  // on the stack: nothing here may throw
      int64_t r = begin;
      for (size_t d = nd - 1; d-- > 0;) {
        idx[d] = r % g.shape[d];
        r /= g.shape[d];
      }
      std::array<char*, N> p;
      for (size_t k = 0; k < N; ++k) {
        p[k] = g.base[k];
        for (size_t d = 0; d + 1 < nd; ++d) p[k] += idx[d] * g.strides[k][d];
      }
      for (int64_t row = begin; row < end; ++row) {
        inner(p, inner_strides, inner_n);
        // Odometer step over the outer dims.
        for (size_t d = nd - 1; d-- > 0;) {
          for (size_t k = 0; k < N; ++k) p[k] += g.strides[k][d];
          if (++idx[d] < g.shape[d]) break;
          for (size_t k = 0; k < N; ++k) p[k] -= g.strides[k][d] * g.shape[d];
          idx[d] = 0;
        }
      }
    }
  }
}

}  // namespace kiln::cpu
