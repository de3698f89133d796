// The fused norm of a list of tensors (clip_grad_norm_): sum over all elements of |x|^p, or the
// largest |x| for p = +inf with NaN propagating, as src/cpu/norm.cpp computes it (in double).
//
// All tensors are reduced by one launch: their (pointer, size, start) table goes to device memory,
// the concatenation of all elements is cut into equal chunks, one per block, and each block walks
// the tensors its chunk overlaps. A second, one-block launch combines the per-block partials in a
// fixed order, so the result depends only on the sizes, never on timing.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/dtype.cuh"
#include "common/launch.cuh"
#include "kernels/kernels.h"
#include "kernels/reduce_util.cuh"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

struct NormEntry {
  const void* ptr;
  int64_t numel;
  int64_t begin;  // index of its first element in the concatenation
};

enum class NormKind : int { Pow, Abs, Square, Max };

constexpr int kNormBlock = 512;
constexpr int kFinalBlock = 256;
constexpr int64_t kMaxNormBlocks = 1024;
constexpr int64_t kElementsPerBlock = 16384;

// The largest |x| so far; a NaN, once met, stays.
__device__ __forceinline__ double max_nan(double a, double b) {
  return !isnan(a) && (isnan(b) || b > a) ? b : a;
}

struct NormCombine {
  bool is_max;
  __device__ __forceinline__ double operator()(double a, double b) const {
    return is_max ? max_nan(a, b) : a + b;
  }
};

template <class T>
__global__ void __launch_bounds__(kNormBlock)
    norm_partial_kernel(const NormEntry* table, int count, int64_t total, NormKind kind, double p,
                        double* partial) {
  __shared__ double smem[kWarpSize];
  const int64_t lo = total * int64_t(blockIdx.x) / gridDim.x;
  const int64_t hi = total * (int64_t(blockIdx.x) + 1) / gridDim.x;
  // The last tensor starting at or before lo (the host leaves out empty tensors, so it holds lo).
  int first = 0, last = count - 1;
  while (first < last) {
    const int mid = (first + last + 1) / 2;
    if (table[mid].begin <= lo)
      first = mid;
    else
      last = mid - 1;
  }
  double acc = 0;  // the identity of both the sum and the max of |x| (>= 0)
  for (int t = first; t < count && table[t].begin < hi; ++t) {
    const T* x = static_cast<const T*>(table[t].ptr);
    const int64_t begin = table[t].begin;
    const int64_t s = std::max(lo, begin) - begin;
    const int64_t e = std::min(hi, begin + table[t].numel) - begin;
    for (int64_t i = s + threadIdx.x; i < e; i += blockDim.x) {
      const double a = fabs(convert<double>(x[i]));
      switch (kind) {
        case NormKind::Abs:
          acc += a;
          break;
        case NormKind::Square:
          acc += a * a;
          break;
        case NormKind::Pow:
          acc += pow(a, p);
          break;
        case NormKind::Max:
          acc = max_nan(acc, a);
          break;
      }
    }
  }
  acc = block_reduce(acc, NormCombine{kind == NormKind::Max}, 0.0, smem);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(kFinalBlock)
    norm_final_kernel(const double* partial, int count, bool is_max, double* out) {
  __shared__ double smem[kWarpSize];
  const NormCombine combine{is_max};
  double acc = 0;
  for (int i = int(threadIdx.x); i < count; i += int(blockDim.x)) acc = combine(acc, partial[i]);
  acc = block_reduce(acc, combine, 0.0, smem);
  if (threadIdx.x == 0) *out = acc;
}

}  // namespace

void norm_of_tensors(const std::vector<Tensor>& xs, double p, const Tensor& out) {
  const char* name = "norm_of_tensors";
  KILN_CHECK(
      out.defined() && out.numel() == 1 && out.dtype() == DType::Float64 && out.device().is_cuda(),
      name, ": expected a 1-element float64 CUDA output");
  KILN_CHECK(p > 0, name, ": p must be positive or +inf, got ", p);
  const int device = out.device().index;
  std::vector<Tensor> keep;  // contiguous copies of strided inputs, alive until enqueued
  std::vector<NormEntry> table;
  int64_t total = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    KILN_CHECK(x.defined(), name, ": tensor ", i, " is undefined");
    KILN_CHECK(is_floating(x.dtype()) && x.dtype() == xs[0].dtype(), name,
               ": expected tensors of one floating dtype, got ", dtype_name(xs[0].dtype()),
               " (tensor 0) and ", dtype_name(x.dtype()), " (tensor ", i, ", shape ",
               shape_str(x.shape()), ")");
    KILN_CHECK(x.device() == out.device(), name, ": tensor ", i, " is on ", x.device().str(),
               ", the output on ", out.device().str());
    if (x.numel() == 0) continue;
    keep.push_back(x.is_contiguous() ? x : x.contiguous());
    table.push_back({keep.back().data_ptr(), x.numel(), total});
    total += x.numel();
  }

  const DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  double* o = static_cast<double*>(out.data_ptr());
  if (total == 0) {  // no elements: the sum and the max of nothing are both 0
    KILN_CUDA_CHECK(cudaMemsetAsync(o, 0, sizeof(double), stream), name);
    return;
  }
  NormKind kind = NormKind::Pow;
  if (std::isinf(p))
    kind = NormKind::Max;
  else if (p == 1)
    kind = NormKind::Abs;
  else if (p == 2)
    kind = NormKind::Square;
  const int64_t blocks =
      std::clamp<int64_t>((total + kElementsPerBlock - 1) / kElementsPerBlock, 1, kMaxNormBlocks);

  const size_t table_bytes = table.size() * sizeof(NormEntry);
  ScratchBuffer dtable(table_bytes, device, name);
  ScratchBuffer partial(size_t(blocks) * sizeof(double), device, name);
  // A pageable source is staged before the call returns, so `table` may go out of scope after.
  KILN_CUDA_CHECK(
      cudaMemcpyAsync(dtable.get(), table.data(), table_bytes, cudaMemcpyHostToDevice, stream),
      name);
  dispatch_floating(xs[0].dtype(), name, [&]<class T>() {
    norm_partial_kernel<T><<<unsigned(blocks), kNormBlock, 0, stream>>>(
        static_cast<const NormEntry*>(dtable.get()), int(table.size()), total, kind, p,
        static_cast<double*>(partial.get()));
  });
  KILN_CUDA_CHECK_LAUNCH(name);
  norm_final_kernel<<<1, kFinalBlock, 0, stream>>>(static_cast<const double*>(partial.get()),
                                                   int(blocks), kind == NormKind::Max, o);
  KILN_CUDA_CHECK_LAUNCH(name);
}

}  // namespace kiln::cuda
