// Softmax and log-softmax along one dim on CUDA, with the CPU reference's semantics
// (src/cpu/softmax.cpp): computed in acc_t<T> (float for float32/16/bf16, double for float64),
// the row maximum subtracted before exponentiating, a NaN anywhere making the whole row NaN.
//
// x is seen as rows of n elements along `dim` (element stride xs, output stride os), the row
// starts walked by a StridedIndexer over the other dims. Kernels:
//  - rows: the row is held in registers (kItems per thread) and read once: one warp per row for
//    rows up to 32 * kItems, one block per row up to 512 * kItems. Contiguous, aligned rows use
//    128-bit loads and stores.
//  - long rows: one block per row, three passes over memory (max, sum, write).
//  - columns: when `dim` is not the fastest dim (softmax over dim 0 of [N, C]), one thread per row
//    walks the dim; consecutive threads take neighbouring rows, so their accesses coalesce.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "common/dtype.cuh"
#include "common/launch.cuh"
#include "common/strided.h"
#include "kernels/kernels.h"
#include "kernels/reduce_util.cuh"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

constexpr int kSmallItems = 4;   // rows of up to 128 elements: one warp, 4 per lane
constexpr int kLargeItems = 16;  // up to 512 (one warp) or 8192 (one block of <= 512)
constexpr int kRowsBlock = 256;  // threads per block when each warp takes a row
// At most 128 registers per thread: the row's kLargeItems values stay in registers without
// spilling (a 1024-thread bound would cap them at 64).
constexpr int kMaxRowsBlock = 512;
constexpr int kLongRowBlock = 1024;
constexpr int64_t kMinColumnRows = 1024;  // below this, threads per row would idle the GPU

template <class T>
struct SoftmaxArgs {
  const T* x;
  T* out;
  StridedIndexer<2> rows;  // row starts in x and out
  int64_t nrows, n, xs, os;
  bool log;
};

template <class A>
__device__ __forceinline__ A exp_acc(A v) {
  if constexpr (std::is_same_v<A, double>)
    return ::exp(v);
  else
    return ::expf(v);
}
template <class A>
__device__ __forceinline__ A log_acc(A v) {
  if constexpr (std::is_same_v<A, double>)
    return ::log(v);
  else
    return ::logf(v);
}

// The CPU's running maximum: a NaN, once met, stays.
struct MaxNan {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return !isnan(a) && (isnan(b) || b > a) ? b : a;
  }
};
struct Plus {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a + b;
  }
};

template <class A>
__device__ __forceinline__ A neg_inf() {
  return -std::numeric_limits<A>::infinity();
}

// kVec elements moved by one load or store when the row is contiguous and aligned.
template <class T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
  T v[kVec];
};

// Elements per vector load in the rows kernel: 16 bytes, or fewer when a thread holds fewer.
template <class T, int kItems>
constexpr int vec_width() {
  return std::min<int>(16 / int(sizeof(T)), kItems);
}

// kVecPath: every row is contiguous in x and out and starts 16-byte aligned (checked on the
// host), so whole vectors are moved. A template parameter rather than a branch: the scalar path
// keeps kItems 64-bit addresses live, and sharing a kernel would give the vector path its
// register count.
template <class T, int kItems, bool kVecPath>
__global__ void __launch_bounds__(kMaxRowsBlock)
    softmax_rows_kernel(SoftmaxArgs<T> a, bool block_mode) {
  using A = acc_t<T>;
  constexpr int kVec = vec_width<T, kItems>();
  __shared__ A smem[kWarpSize];
  const int group = block_mode ? int(blockDim.x) : kWarpSize;
  const int per_block = int(blockDim.x) / group;
  const int t = int(threadIdx.x) % group;
  // Block mode: one row per block, so the loop (and the barriers in it) is uniform in the block.
  for (int64_t row = int64_t(blockIdx.x) * per_block + threadIdx.x / group; row < a.nrows;
       row += int64_t(gridDim.x) * per_block) {
    int64_t offs[2];
    a.rows.offsets(row, offs);
    const T* xr = a.x + offs[0];
    T* orow = a.out + offs[1];
    constexpr bool vec = kVecPath;
    // Element index of register j: vectors of kVec consecutive elements, or single elements,
    // with neighbouring threads on neighbouring addresses either way.
    auto col = [&](int j) -> int64_t {
      return vec ? (int64_t(j / kVec) * group + t) * kVec + j % kVec : int64_t(j) * group + t;
    };
    A v[kItems];
    if constexpr (vec) {
#pragma unroll
      for (int j = 0; j < kItems; j += kVec) {
        const int64_t c = col(j);
        if (c < a.n) {
          const Pack<T, kVec> pk = *reinterpret_cast<const Pack<T, kVec>*>(xr + c);
#pragma unroll
          for (int q = 0; q < kVec; ++q) v[j + q] = convert<A>(pk.v[q]);
        } else {
#pragma unroll
          for (int q = 0; q < kVec; ++q) v[j + q] = neg_inf<A>();
        }
      }
    } else {
#pragma unroll
      for (int j = 0; j < kItems; ++j) {
        const int64_t c = col(j);
        v[j] = c < a.n ? convert<A>(xr[c * a.xs]) : neg_inf<A>();
      }
    }

    A m = neg_inf<A>();
#pragma unroll
    for (int j = 0; j < kItems; ++j) m = MaxNan{}(m, v[j]);
    m = block_mode ? block_allreduce(m, MaxNan{}, neg_inf<A>(), smem) : warp_allreduce(m, MaxNan{});
    A s = 0;
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      if (col(j) < a.n) {
        const A e = exp_acc(v[j] - m);
        s += e;
        if (!a.log) v[j] = e;
      }
    }
    s = block_mode ? block_allreduce(s, Plus{}, A(0), smem) : warp_allreduce(s, Plus{});
    const A ls = a.log ? log_acc(s) : A(0);
#pragma unroll
    for (int j = 0; j < kItems; ++j) v[j] = a.log ? (v[j] - m) - ls : v[j] / s;

    if constexpr (vec) {
#pragma unroll
      for (int j = 0; j < kItems; j += kVec) {
        const int64_t c = col(j);
        if (c < a.n) {
          Pack<T, kVec> pk;
#pragma unroll
          for (int q = 0; q < kVec; ++q) pk.v[q] = convert<T>(v[j + q]);
          *reinterpret_cast<Pack<T, kVec>*>(orow + c) = pk;
        }
      }
    } else {
#pragma unroll
      for (int j = 0; j < kItems; ++j) {
        const int64_t c = col(j);
        if (c < a.n) orow[c * a.os] = convert<T>(v[j]);
      }
    }
  }
}

// Rows too long for registers: one block per row, reading the row three times (it is usually
// still in L2 for the second and third pass).
template <class T>
__global__ void __launch_bounds__(kLongRowBlock) softmax_long_rows_kernel(SoftmaxArgs<T> a) {
  using A = acc_t<T>;
  __shared__ A smem[kWarpSize];
  for (int64_t row = blockIdx.x; row < a.nrows; row += gridDim.x) {
    int64_t offs[2];
    a.rows.offsets(row, offs);
    const T* xr = a.x + offs[0];
    T* orow = a.out + offs[1];
    A m = neg_inf<A>();
    for (int64_t c = threadIdx.x; c < a.n; c += blockDim.x)
      m = MaxNan{}(m, convert<A>(xr[c * a.xs]));
    m = block_allreduce(m, MaxNan{}, neg_inf<A>(), smem);
    A s = 0;
    for (int64_t c = threadIdx.x; c < a.n; c += blockDim.x)
      s += exp_acc(convert<A>(xr[c * a.xs]) - m);
    s = block_allreduce(s, Plus{}, A(0), smem);
    if (a.log) {
      const A ls = log_acc(s);
      for (int64_t c = threadIdx.x; c < a.n; c += blockDim.x)
        orow[c * a.os] = convert<T>((convert<A>(xr[c * a.xs]) - m) - ls);
    } else {
      for (int64_t c = threadIdx.x; c < a.n; c += blockDim.x)
        orow[c * a.os] = convert<T>(exp_acc(convert<A>(xr[c * a.xs]) - m) / s);
    }
  }
}

// One thread per row, sequential like the CPU.
template <class T>
__global__ void __launch_bounds__(kBlockSize) softmax_columns_kernel(SoftmaxArgs<T> a) {
  using A = acc_t<T>;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t row = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; row < a.nrows; row += stride) {
    int64_t offs[2];
    a.rows.offsets(row, offs);
    const T* xr = a.x + offs[0];
    T* orow = a.out + offs[1];
    A m = neg_inf<A>();
    for (int64_t c = 0; c < a.n; ++c) m = MaxNan{}(m, convert<A>(xr[c * a.xs]));
    A s = 0;
    for (int64_t c = 0; c < a.n; ++c) s += exp_acc(convert<A>(xr[c * a.xs]) - m);
    if (a.log) {
      const A ls = log_acc(s);
      for (int64_t c = 0; c < a.n; ++c)
        orow[c * a.os] = convert<T>((convert<A>(xr[c * a.xs]) - m) - ls);
    } else {
      for (int64_t c = 0; c < a.n; ++c)
        orow[c * a.os] = convert<T>(exp_acc(convert<A>(xr[c * a.xs]) - m) / s);
    }
  }
}

unsigned blocks_for(int64_t items) { return unsigned(std::clamp<int64_t>(items, 1, kMaxGridSize)); }

template <class T, int kItems, bool kVecPath>
void launch_rows(cudaStream_t stream, const SoftmaxArgs<T>& a, bool block_mode) {
  constexpr int64_t kWarpsPerBlock = kRowsBlock / kWarpSize;
  if (block_mode) {
    // The fewest whole warps that hold the row at kItems per thread.
    const int64_t warps = (a.n + kWarpSize * kItems - 1) / (kWarpSize * kItems);
    softmax_rows_kernel<T, kItems, kVecPath>
        <<<blocks_for(a.nrows), unsigned(warps) * kWarpSize, 0, stream>>>(a, true);
  } else {
    softmax_rows_kernel<T, kItems, kVecPath>
        <<<blocks_for((a.nrows + kWarpsPerBlock - 1) / kWarpsPerBlock), kRowsBlock, 0, stream>>>(
            a, false);
  }
}

template <class T, int kItems>
void launch_rows(cudaStream_t stream, const SoftmaxArgs<T>& a, bool block_mode, bool aligned_rows) {
  constexpr int kVec = vec_width<T, kItems>();
  if (aligned_rows && a.xs == 1 && a.os == 1 && a.n % kVec == 0) {
    // Row starts differ by strides that are multiples of kVec (checked by the caller); the
    // first row's alignment decides for all.
    const uintptr_t bases = reinterpret_cast<uintptr_t>(a.x) | reinterpret_cast<uintptr_t>(a.out);
    if (bases % (sizeof(T) * kVec) == 0) return launch_rows<T, kItems, true>(stream, a, block_mode);
  }
  launch_rows<T, kItems, false>(stream, a, block_mode);
}

// aligned_rows: every row start is a multiple of 8 elements away from the first (the strides of
// the other dims are), so the vector path only depends on the base pointers.
template <class T>
void launch_softmax(const char* op, cudaStream_t stream, const SoftmaxArgs<T>& a, bool column,
                    bool aligned_rows) {
  const int64_t n = a.n;
  if (column) {
    softmax_columns_kernel<T><<<grid_size(a.nrows), kBlockSize, 0, stream>>>(a);
  } else if (n <= kWarpSize * kSmallItems) {
    launch_rows<T, kSmallItems>(stream, a, false, aligned_rows);
  } else if (n <= kWarpSize * kLargeItems) {
    launch_rows<T, kLargeItems>(stream, a, false, aligned_rows);
  } else if (n <= int64_t(kMaxRowsBlock) * kLargeItems) {
    launch_rows<T, kLargeItems>(stream, a, true, aligned_rows);
  } else {
    softmax_long_rows_kernel<T><<<blocks_for(a.nrows), kLongRowBlock, 0, stream>>>(a);
  }
  KILN_CUDA_CHECK_LAUNCH(op);
}

}  // namespace

void softmax(OpId op, const Tensor& x, int64_t dim, const Tensor& out) {
  const char* name = op_name(op);
  KILN_CHECK(op == OpId::Softmax || op == OpId::LogSoftmax, name, ": no CUDA softmax kernel");
  KILN_CHECK(x.shape() == out.shape() && x.dtype() == out.dtype(), name,
             ": softmax kernel expects an output like the input, got ", shape_str(x.shape()),
             " and ", shape_str(out.shape()));
  KILN_CHECK(x.device().is_cuda() && out.device() == x.device(), name,
             ": expected the input and output on one CUDA device, got ", x.device().str(), " and ",
             out.device().str());
  if (x.numel() == 0) return;
  const bool scalar = x.dim() == 0;  // a 0-d tensor is a row of one element
  KILN_CHECK(scalar ? dim == 0 : dim >= 0 && dim < x.dim(), name, ": dim ", dim,
             " out of range for shape ", shape_str(x.shape()));
  const int64_t n = scalar ? 1 : x.shape()[size_t(dim)];
  DimList<2> other;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == dim || x.shape()[size_t(d)] == 1) continue;
    other.add(x.shape()[size_t(d)], {x.strides()[size_t(d)], out.strides()[size_t(d)]});
  }
  const int64_t xs = scalar ? 0 : x.strides()[size_t(dim)];
  const int64_t os = scalar ? 0 : out.strides()[size_t(dim)];
  const int64_t nrows = x.numel() / n;
  // Columns: the fastest other dim steps through memory faster than `dim`, and there are rows
  // enough to give every thread its own.
  const bool column =
      n > 1 && !other.size.empty() && other.stride.back()[0] < xs && nrows >= kMinColumnRows;

  // The vector path needs every row start aligned like the first; 8 elements covers every
  // vector width used (16 bytes of 2-byte types at most).
  bool aligned_rows = true;
  for (const auto& st : other.stride)
    aligned_rows = aligned_rows && st[0] % 8 == 0 && st[1] % 8 == 0;

  const DeviceGuard guard(x.device().index);
  cudaStream_t stream = compute_stream(x.device().index);
  dispatch_floating(x.dtype(), name, [&]<class T>() {
    SoftmaxArgs<T> a{};
    a.x = static_cast<const T*>(x.data_ptr());
    a.out = static_cast<T*>(out.data_ptr());
    a.rows = other.indexer(name, x.shape());
    a.nrows = nrows;
    a.n = n;
    a.xs = xs;
    a.os = os;
    a.log = op == OpId::LogSoftmax;
    launch_softmax<T>(name, stream, a, column, aligned_rows);
  });
}

}  // namespace kiln::cuda
