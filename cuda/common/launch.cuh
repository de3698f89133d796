#pragma once
// Launch helpers shared by the kernels. Elementwise kernels use grid-stride loops, so the grid is
// capped and a kernel is correct for any n with any grid; results never depend on the grid (the
// Philox generator is indexed by element, not by thread).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "common/check.h"

namespace kiln::cuda {

inline constexpr int kBlockSize = 256;
// Enough blocks to fill an H200 (132 SMs x 2048 threads / 256) many times over; more only adds
// scheduling overhead for grid-stride kernels.
inline constexpr int64_t kMaxGridSize = int64_t(1) << 16;

// Blocks for n elements at `block` threads each, at least 1 and at most kMaxGridSize.
inline unsigned grid_size(int64_t n, int block = kBlockSize) {
  int64_t blocks = (n + block - 1) / block;
  return unsigned(std::clamp<int64_t>(blocks, 1, kMaxGridSize));
}

// Visits every i in [0, n) once, whatever the grid.
template <class F>
__device__ __forceinline__ void grid_stride(int64_t n, F&& f) {
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i);
}

template <class F>
__global__ void __launch_bounds__(kBlockSize) elementwise_kernel(int64_t n, F f) {
  grid_stride(n, f);
}

// Runs f(i) for i in [0, n) on `stream`. f is a __device__ lambda (nvcc --extended-lambda) or a
// functor with a __device__ operator()(int64_t), captured by value. `op` names the Kiln op in the
// error raised for a failed launch.
template <class F>
void launch_elementwise(const char* op, int64_t n, cudaStream_t stream, F f) {
  if (n <= 0) return;
  elementwise_kernel<<<grid_size(n), kBlockSize, 0, stream>>>(n, f);
  KILN_CUDA_CHECK_LAUNCH(op);
}

}  // namespace kiln::cuda
