// Reductions on CUDA: sum / prod / amax / amin over any set of dims, max / min with indices along
// one dim, and the fused norm of a list of tensors. Semantics are the CPU reference's
// (src/cpu/reduce.cpp, src/cpu/norm.cpp): floating sums and products accumulate in double
// (whatever the storage type, as the CPU does), integer ones in int64 wrapping like two's
// complement, extrema propagate NaN, argmax/argmin pick the first occurrence and a NaN wins at its
// first index.
//
// Layout: x is seen as [kept, reduced]. The kept dims (one output per index) are walked by a
// StridedIndexer over (x, outputs...), the reduced dims by another over x alone, ordered by
// decreasing stride and merged like the CPU's geometry. Three kernels share one functor per
// reduction:
//  - thread: one thread per (output, split) walks its elements sequentially. Used when the rows
//    are tiny, and when the innermost kept dim is the fastest in memory (the sum over the batch of
//    [N, C]): consecutive threads then take consecutive outputs and their loads coalesce.
//  - group: one warp (or one block, for long rows and few outputs) per (output, split), with a
//    shuffle tree and a shared-memory stage for blocks.
//  - finalize: when an output's elements are split over several threads or blocks, their
//    partial results are combined in a fixed order, so results depend only on the sizes.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "common/dtype.cuh"
#include "common/launch.cuh"
#include "common/strided.h"
#include "kernels/kernels.h"
#include "kernels/reduce_util.cuh"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

// ---------------------------------------------------------------------------------------------
// Functors. Each has Acc, init(), load(element, index along the reduced dims), combine(a, b) and
// write(offsets, acc) storing one result (offsets[0] is x's, the others the outputs').

enum class ReduceKind : int { Sum, Prod, Max, Min };

template <class A>
__device__ __forceinline__ bool acc_is_nan(A v) {
  if constexpr (std::is_floating_point_v<A>)
    return isnan(v);
  else
    return false;
}

// Sum / Prod / Amax / Amin. The kind is a runtime field (uniform across the grid) rather than a
// template parameter: the accumulator type is the same for all four, and this keeps the number of
// kernel instantiations down.
template <class T>
struct ReduceFn {
  using Acc = std::conditional_t<is_float_type_v<T>, double, int64_t>;
  ReduceKind kind;
  T* out;

  __device__ __forceinline__ Acc init() const {
    switch (kind) {
      case ReduceKind::Sum:
        return Acc(0);
      case ReduceKind::Prod:
        return Acc(1);
      case ReduceKind::Max:
        if constexpr (is_float_type_v<T>)
          return -std::numeric_limits<double>::infinity();
        else
          return std::numeric_limits<int64_t>::min();
      default:
        if constexpr (is_float_type_v<T>)
          return std::numeric_limits<double>::infinity();
        else
          return std::numeric_limits<int64_t>::max();
    }
  }
  __device__ __forceinline__ Acc load(T v, int64_t) const {
    if constexpr (is_float_type_v<T>)
      return convert<double>(v);
    else
      return static_cast<int64_t>(v);
  }
  __device__ __forceinline__ Acc combine(Acc a, Acc b) const {
    switch (kind) {
      case ReduceKind::Sum:
        if constexpr (is_float_type_v<T>)
          return a + b;
        else  // wraps instead of overflowing (UB), as on the CPU
          return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
      case ReduceKind::Prod:
        if constexpr (is_float_type_v<T>)
          return a * b;
        else
          return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
      default: {
        // A NaN, once met, is kept (a NaN accumulator never compares greater).
        if (acc_is_nan(b)) return acc_is_nan(a) ? a : b;
        const bool take = kind == ReduceKind::Max ? b > a : b < a;
        return take ? b : a;
      }
    }
  }
  template <int N>
  __device__ __forceinline__ void write(const int64_t (&offs)[N], Acc a) const {
    if constexpr (std::is_same_v<T, bool>)
      out[offs[1]] = a != 0;
    else if constexpr (is_float_type_v<T>)
      out[offs[1]] = convert<T>(a);  // double -> float -> T, the CPU's rounding path
    else
      out[offs[1]] = static_cast<T>(a);
  }
};

// (value, index) candidate of max / min along a dim; i < 0 means "none yet".
template <class V>
struct ArgAcc {
  V v;
  int64_t i;
};
template <class V>
__device__ __forceinline__ ArgAcc<V> shfl_down(ArgAcc<V> a, int delta) {
  return {::kiln::cuda::shfl_down(a.v, delta), ::kiln::cuda::shfl_down(a.i, delta)};
}

template <class T>
struct ArgFn {
  // Compared exactly in a type that holds every value: acc_t for floats, int64 for integers.
  using V = std::conditional_t<is_float_type_v<T>, acc_t<T>, int64_t>;
  using Acc = ArgAcc<V>;
  bool is_max;
  T* values;
  int64_t* indices;

  __device__ __forceinline__ Acc init() const { return {V(0), -1}; }
  __device__ __forceinline__ Acc load(T v, int64_t i) const { return {convert<V>(v), i}; }
  // The result the CPU's sequential scan gives: the first NaN if there is one, otherwise the
  // first index of the extreme value. This rule is associative, so any tree order yields it.
  __device__ __forceinline__ Acc combine(Acc a, Acc b) const {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = acc_is_nan(a.v), bn = acc_is_nan(b.v);
    if (an || bn) {
      if (an && bn) return a.i <= b.i ? a : b;
      return an ? a : b;
    }
    if (a.v == b.v) return a.i <= b.i ? a : b;
    return (is_max ? a.v > b.v : a.v < b.v) ? a : b;
  }
  template <int N>
  __device__ __forceinline__ void write(const int64_t (&offs)[N], Acc a) const {
    values[offs[1]] = convert<T>(a.v);  // exact: the value came from a T
    indices[offs[2]] = a.i;
  }
};

// ---------------------------------------------------------------------------------------------
// Kernels.

template <class Fn, class T, int N>
struct Problem {
  const T* x;
  StridedIndexer<N> kept;  // operand 0: x, then the outputs
  StridedIndexer<1> red;   // x's offsets over the reduced dims
  int64_t outputs, rows, splits;
  typename Fn::Acc* partial;  // [outputs][splits] when splits > 1
};

__device__ __forceinline__ int64_t red_offset(const StridedIndexer<1>& red, int64_t r) {
  return red.ndim == 1 ? r * red.strides[0][0] : red.offset(r);
}

template <class Fn, class T, int N>
__device__ __forceinline__ void finish(const Problem<Fn, T, N>& p, const Fn& fn, int64_t o,
                                       int64_t s, const int64_t (&offs)[N], typename Fn::Acc acc) {
  if (p.splits == 1)
    fn.write(offs, acc);
  else
    p.partial[o * p.splits + s] = acc;
}

template <class Fn, class T, int N>
__global__ void __launch_bounds__(kBlockSize) reduce_thread_kernel(Problem<Fn, T, N> p, Fn fn) {
  const int64_t items = p.outputs * p.splits;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < items; t += stride) {
    // Consecutive threads take consecutive outputs (coalesced along the kept dims).
    const int64_t o = t % p.outputs, s = t / p.outputs;
    int64_t offs[N];
    p.kept.offsets(o, offs);
    const T* base = p.x + offs[0];
    const int64_t end = p.rows * (s + 1) / p.splits;
    typename Fn::Acc acc = fn.init();
    for (int64_t r = p.rows * s / p.splits; r < end; ++r)
      acc = fn.combine(acc, fn.load(base[red_offset(p.red, r)], r));
    finish(p, fn, o, s, offs, acc);
  }
}

// One group of `group` threads (a warp, or the whole block) per (output, split).
constexpr int kGroupBlock = 512;

template <class Fn, class T, int N>
__global__ void __launch_bounds__(kGroupBlock)
    reduce_group_kernel(Problem<Fn, T, N> p, Fn fn, int group) {
  using Acc = typename Fn::Acc;
  __shared__ alignas(16) unsigned char smem_raw[kWarpSize * sizeof(Acc)];
  Acc* smem = reinterpret_cast<Acc*>(smem_raw);
  auto combine = [&fn](Acc a, Acc b) { return fn.combine(a, b); };
  const int per_block = int(blockDim.x) / group;
  const int lane = int(threadIdx.x) % group;
  const int64_t items = p.outputs * p.splits;
  // With block groups every thread of the block runs the same iterations (the barriers in
  // block_reduce need it); with warp groups each warp runs on its own.
  for (int64_t g = int64_t(blockIdx.x) * per_block + threadIdx.x / group; g < items;
       g += int64_t(gridDim.x) * per_block) {
    const int64_t o = g / p.splits, s = g % p.splits;
    int64_t offs[N];
    p.kept.offsets(o, offs);
    const T* base = p.x + offs[0];
    const int64_t end = p.rows * (s + 1) / p.splits;
    Acc acc = fn.init();
    for (int64_t r = p.rows * s / p.splits + lane; r < end; r += group)
      acc = fn.combine(acc, fn.load(base[red_offset(p.red, r)], r));
    if (group == kWarpSize)
      acc = warp_reduce(acc, combine);
    else
      acc = block_reduce(acc, combine, fn.init(), smem);
    if (lane == 0) finish(p, fn, o, s, offs, acc);
  }
}

template <class Fn, class T, int N>
__global__ void __launch_bounds__(kBlockSize) reduce_finalize_kernel(Problem<Fn, T, N> p, Fn fn) {
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < p.outputs; o += stride) {
    const typename Fn::Acc* part = p.partial + o * p.splits;
    typename Fn::Acc acc = part[0];
    for (int64_t s = 1; s < p.splits; ++s) acc = fn.combine(acc, part[s]);
    int64_t offs[N];
    p.kept.offsets(o, offs);
    fn.write(offs, acc);
  }
}

// ---------------------------------------------------------------------------------------------
// Host side.

// Enough parallelism to fill an H200 several times; fixed numbers, not the device's, so that how
// an output is split (and hence its rounding) depends only on the sizes.
constexpr int64_t kTargetThreads = int64_t(1) << 17;
constexpr int64_t kTargetBlocks = 512;

// Runs one reduction: `column` says the innermost kept dim is faster in memory than every
// reduced dim.
template <class Fn, class T, int N>
void launch_reduce(const char* op, int device, Problem<Fn, T, N> p, const Fn& fn, bool column) {
  using Acc = typename Fn::Acc;
  const int64_t K = p.outputs, R = p.rows;
  if (K == 0) return;
  cudaStream_t stream = compute_stream(device);
  enum class Mode { Thread, Warp, Block } mode;
  int64_t splits = 1;
  if (R <= 16 || column) {
    mode = Mode::Thread;
    if (column && R >= 128 && K < kTargetThreads)
      splits = std::clamp<int64_t>(std::min(kTargetThreads / K, R / 64), 1, 4096);
  } else if (R <= 2048 || K >= 16384) {
    mode = Mode::Warp;
  } else {
    mode = Mode::Block;
    splits = std::clamp<int64_t>(std::min(kTargetBlocks / K, R / 8192), 1, 1024);
  }
  p.splits = splits;
  ScratchBuffer scratch(splits > 1 ? size_t(K * splits) * sizeof(Acc) : 0, device, op);
  p.partial = static_cast<Acc*>(scratch.get());
  const int64_t items = K * splits;
  switch (mode) {
    case Mode::Thread:
      reduce_thread_kernel<Fn, T, N><<<grid_size(items), kBlockSize, 0, stream>>>(p, fn);
      break;
    case Mode::Warp: {
      const int per_block = kGroupBlock / kWarpSize;
      const auto blocks =
          unsigned(std::clamp<int64_t>((items + per_block - 1) / per_block, 1, kMaxGridSize));
      reduce_group_kernel<Fn, T, N><<<blocks, kGroupBlock, 0, stream>>>(p, fn, kWarpSize);
      break;
    }
    case Mode::Block: {
      const auto blocks = unsigned(std::clamp<int64_t>(items, 1, kMaxGridSize));
      reduce_group_kernel<Fn, T, N><<<blocks, kGroupBlock, 0, stream>>>(p, fn, kGroupBlock);
      break;
    }
  }
  KILN_CUDA_CHECK_LAUNCH(op);
  if (splits > 1) {
    reduce_finalize_kernel<Fn, T, N><<<grid_size(K), kBlockSize, 0, stream>>>(p, fn);
    KILN_CUDA_CHECK_LAUNCH(op);
  }
}

void check_device_of(const char* op, const Tensor& t, const Tensor& ref) {
  KILN_CHECK(t.device().is_cuda() && t.device() == ref.device(), op, ": expected every tensor on ",
             ref.device().str(), ", got one on ", t.device().str());
}

}  // namespace

void reduce(OpId op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) {
  const char* name = op_name(op);
  KILN_CHECK(x.dtype() == out.dtype(), name, ": reduce kernel expects the output dtype ",
             dtype_name(out.dtype()), " to match the input's ", dtype_name(x.dtype()));
  KILN_CHECK(!dims.empty(), name, ": reduce kernel needs at least one dim");
  KILN_CHECK(out.dim() == x.dim(), name, ": output rank ", out.dim(),
             " does not match input shape ", shape_str(x.shape()));
  ReduceKind kind;
  switch (op) {
    case OpId::Sum:
      kind = ReduceKind::Sum;
      break;
    case OpId::Prod:
      kind = ReduceKind::Prod;
      break;
    case OpId::Amax:
      kind = ReduceKind::Max;
      break;
    case OpId::Amin:
      kind = ReduceKind::Min;
      break;
    default:
      throw Error(::kiln::detail::concat(name, ": no CUDA reduce kernel"));
  }
  check_device_of(name, out, x);
  if (out.numel() == 0) return;
  const int64_t nd = x.dim();
  std::vector<bool> reduced(size_t(nd), false);
  for (int64_t d : dims) {
    KILN_CHECK(d >= 0 && d < nd, name, ": dim ", d, " out of range for shape ",
               shape_str(x.shape()));
    reduced[size_t(d)] = true;
  }
  DimList<2> kept;
  std::vector<std::pair<int64_t, int64_t>> red;  // (size, stride)
  int64_t K = 1, R = 1;
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t size = x.shape()[size_t(d)];
    if (reduced[size_t(d)]) {
      R *= size;
      if (size != 1) red.emplace_back(size, x.strides()[size_t(d)]);
    } else {
      K *= size;
      if (size != 1) kept.add(size, {x.strides()[size_t(d)], out.strides()[size_t(d)]});
    }
  }
  // Reduced dims by decreasing stride, so the innermost walks the smallest one.
  std::stable_sort(red.begin(), red.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  DimList<1> rl;
  for (auto [size, stride] : red) rl.add(size, {stride});
  if (rl.size.empty()) rl.add(1, {0});  // only size-1 dims reduced: one element per output

  const DeviceGuard guard(x.device().index);
  dispatch_all(x.dtype(), [&]<class T>() {
    Problem<ReduceFn<T>, T, 2> p{};
    p.x = static_cast<const T*>(x.data_ptr());
    p.kept = kept.indexer(name, x.shape());
    p.red = rl.indexer(name, x.shape());
    p.outputs = K;
    p.rows = R;
    const bool column = !kept.size.empty() && kept.stride.back()[0] < rl.stride.back()[0];
    launch_reduce(name, x.device().index, p, ReduceFn<T>{kind, static_cast<T*>(out.data_ptr())},
                  column);
  });
}

void arg_reduce(OpId op, const Tensor& x, int64_t dim, const Tensor& values,
                const Tensor& indices) {
  const char* name = op_name(op);
  KILN_CHECK(op == OpId::MaxDim || op == OpId::MinDim, name, ": no CUDA arg_reduce kernel");
  KILN_CHECK(indices.dtype() == DType::Int64 && values.dtype() == x.dtype(), name,
             ": arg_reduce expects int64 indices and values of the input's dtype");
  KILN_CHECK(dim >= 0 && dim < x.dim(), name, ": dim ", dim, " out of range for shape ",
             shape_str(x.shape()));
  KILN_CHECK(values.dim() == x.dim() && indices.shape() == values.shape(), name,
             ": arg_reduce expects outputs of rank ", x.dim(), ", got ", shape_str(values.shape()),
             " and ", shape_str(indices.shape()));
  check_device_of(name, values, x);
  check_device_of(name, indices, x);
  if (values.numel() == 0) return;
  const int64_t n = x.shape()[size_t(dim)];
  KILN_CHECK(n > 0, name, ": cannot reduce over a dimension of size 0 (shape ",
             shape_str(x.shape()), ")");
  DimList<3> kept;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == dim || x.shape()[size_t(d)] == 1) continue;
    kept.add(x.shape()[size_t(d)],
             {x.strides()[size_t(d)], values.strides()[size_t(d)], indices.strides()[size_t(d)]});
  }
  // The reduced "dims" are the one dim, unmerged: its index is the answer.
  StridedIndexer<1> red;
  red.ndim = 1;
  red.sizes[0] = n;
  red.strides[0][0] = x.strides()[size_t(dim)];

  const DeviceGuard guard(x.device().index);
  dispatch_all(x.dtype(), [&]<class T>() {
    Problem<ArgFn<T>, T, 3> p{};
    p.x = static_cast<const T*>(x.data_ptr());
    p.kept = kept.indexer(name, x.shape());
    p.red = red;
    p.outputs = values.numel();
    p.rows = n;
    const bool column = !kept.size.empty() && kept.stride.back()[0] < red.strides[0][0];
    launch_reduce(name, x.device().index, p,
                  ArgFn<T>{op == OpId::MaxDim, static_cast<T*>(values.data_ptr()),
                           static_cast<int64_t*>(indices.data_ptr())},
                  column);
  });
}

}  // namespace kiln::cuda
