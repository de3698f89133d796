#pragma once
// Warp and block reductions shared by the reduction and softmax kernels, generic over a
// combining functor so that the same tree serves sums, extrema and (value, index) pairs.
#include <cuda_runtime.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/strided.h"
#include "runtime/allocator.h"

namespace kiln::cuda {

inline constexpr unsigned kFullWarpMask = 0xffffffffu;
inline constexpr int kWarpSize = 32;

// Shuffles for the accumulator types used here (float, double, int64); structs shuffle member by
// member through their own overloads.
__device__ __forceinline__ float shfl_down(float v, int delta) {
  return __shfl_down_sync(kFullWarpMask, v, delta);
}
__device__ __forceinline__ double shfl_down(double v, int delta) {
  return __shfl_down_sync(kFullWarpMask, v, delta);
}
__device__ __forceinline__ int64_t shfl_down(int64_t v, int delta) {
  return static_cast<int64_t>(__shfl_down_sync(kFullWarpMask, static_cast<long long>(v), delta));
}
__device__ __forceinline__ float shfl_xor(float v, int mask) {
  return __shfl_xor_sync(kFullWarpMask, v, mask);
}
__device__ __forceinline__ double shfl_xor(double v, int mask) {
  return __shfl_xor_sync(kFullWarpMask, v, mask);
}

// Tree reduction over the 32 lanes of a warp; lane 0 holds the result. All lanes must call it.
template <class A, class Combine>
__device__ __forceinline__ A warp_reduce(A v, Combine combine) {
  for (int d = kWarpSize / 2; d > 0; d >>= 1) v = combine(v, shfl_down(v, d));
  return v;
}

// Butterfly reduction: every lane gets the result (softmax needs the row max in all lanes).
template <class A, class Combine>
__device__ __forceinline__ A warp_allreduce(A v, Combine combine) {
  for (int d = kWarpSize / 2; d > 0; d >>= 1) v = combine(v, shfl_xor(v, d));
  return v;
}

// Reduction over the whole block (blockDim.x a multiple of 32, at most 1024); thread 0 holds the
// result. Every thread of the block must call it; `smem` holds 32 values. It ends with a barrier,
// so `smem` may be reused right after.
template <class A, class Combine>
__device__ __forceinline__ A block_reduce(A v, Combine combine, A identity, A* smem) {
  const int lane = int(threadIdx.x) % kWarpSize, warp = int(threadIdx.x) / kWarpSize;
  const int warps = int(blockDim.x) / kWarpSize;
  v = warp_reduce(v, combine);
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? smem[lane] : identity;
    v = warp_reduce(v, combine);
  }
  __syncthreads();
  return v;
}

// As block_reduce, but every thread gets the result.
template <class A, class Combine>
__device__ __forceinline__ A block_allreduce(A v, Combine combine, A identity, A* smem) {
  v = block_reduce(v, combine, identity, smem);
  if (threadIdx.x == 0) smem[0] = v;
  __syncthreads();
  v = smem[0];
  __syncthreads();
  return v;
}

// Scratch device memory for one launcher, freed (stream-ordered, so after the kernels that use
// it) when the launcher returns or throws.
class ScratchBuffer {
 public:
  ScratchBuffer(size_t nbytes, int device, const char* op) : device_(device) {
    if (nbytes > 0) ptr_ = raw_allocate(nbytes, device, op);
  }
  ~ScratchBuffer() {
    if (ptr_) raw_free(ptr_, device_);
  }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
  int device_ = 0;
};

// A list of dims with one stride per operand, merged where every operand steps through two
// neighbours as one (outer stride == inner stride * inner size).
template <int N>
struct DimList {
  std::vector<int64_t> size;
  std::vector<std::array<int64_t, N>> stride;

  void add(int64_t sz, const std::array<int64_t, N>& st) {
    if (!size.empty()) {
      bool mergeable = true;
      for (int k = 0; k < N; ++k) mergeable = mergeable && stride.back()[k] == st[k] * sz;
      if (mergeable) {
        size.back() *= sz;
        stride.back() = st;
        return;
      }
    }
    size.push_back(sz);
    stride.push_back(st);
  }
  StridedIndexer<N> indexer(const char* op, const Shape& shape) const {
    KILN_CHECK(size.size() <= size_t(kMaxKernelDims), op, ": a tensor of shape ", shape_str(shape),
               " has ", size.size(), " dims that cannot be merged; CUDA kernels take at most ",
               kMaxKernelDims, " (compute it on the CPU, or reshape it to fewer dims first)");
    StridedIndexer<N> ix;
    ix.ndim = int(size.size());
    for (size_t d = 0; d < size.size(); ++d) {
      ix.sizes[d] = size[d];
      for (int k = 0; k < N; ++k) ix.strides[k][d] = stride[d][k];
    }
    return ix;
  }
};

}  // namespace kiln::cuda
