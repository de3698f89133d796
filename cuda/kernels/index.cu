// Indexing kernels on CUDA: index_select, index_add, gather, scatter and scatter_add, with the
// semantics of src/cpu/index.cpp (the oracle). Index tensors are int64 and already range-checked
// by the op; every other tensor may have any strides.
//
// Writes through an index (index_add, scatter_add, scatter) may hit one element many times:
// - index_add / scatter_add accumulate with atomics. Each atomic step rounds exactly like one
//   step of the CPU loop (float16/bfloat16 use a compare-and-swap loop that adds in float and
//   rounds once, as the CPU does, rather than atomicAdd on the 16-bit type, which would round the
//   addend first). Integer results are therefore identical to the CPU's; floating results with
//   repeated indices differ from it only by the order of the additions. uint8 has no 8-bit atomic
//   add, so it runs the CPU's loop order: one thread per non-indexed position.
// - scatter (overwrite) with repeated indices keeps, like the CPU, the value written last in the
//   CPU's loop order (along dim outermost, then the other dims row-major): a first pass claims
//   each target element for its last writer with atomicMax, a second pass lets only that writer
//   store. The result is deterministic and equal to the CPU's (PyTorch leaves this case
//   unspecified on CUDA).
#include <array>
#include <type_traits>
#include <vector>

// First: dtype.cuh names detail::concat unqualified, which must not find kiln::cuda::detail
// (declared by common/check.h).
#include "common/dtype.cuh"
//
#include "common/check.h"
#include "common/launch.cuh"
#include "common/strided.h"
#include "kernels/kernels.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

Shape without(const Shape& s, int64_t dim) {
  Shape r = s;
  r.erase(r.begin() + dim);
  return r;
}

// `s` with the entry at `dim` replaced by `v`.
Shape with(const Shape& s, int64_t dim, int64_t v) {
  Shape r = s;
  r[size_t(dim)] = v;
  return r;
}

// Strides that step only along `dim` (by `v`): the position along dim as an operand offset.
Shape only(size_t ndim, int64_t dim, int64_t v) {
  Shape r(ndim, 0);
  r[size_t(dim)] = v;
  return r;
}

// The indexer of N operands walking `shape` row-major with the given strides (in elements),
// built like make_indexer (common/strided.h): size-1 dims dropped, dims that every operand steps
// through as one merged. Here the operands are not tensors of that shape but derived views (a
// dimension zeroed or removed), hence the explicit strides.
template <int N>
StridedIndexer<N> geometry(const Shape& shape, const std::array<Shape, N>& strides,
                           const char* op) {
  std::vector<int64_t> sizes;
  std::array<std::vector<int64_t>, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!sizes.empty()) {
      bool mergeable = true;
      for (int k = 0; k < N && mergeable; ++k)
        mergeable = st[size_t(k)].back() == strides[size_t(k)][d] * shape[d];
      if (mergeable) {
        sizes.back() *= shape[d];
        for (int k = 0; k < N; ++k) st[size_t(k)].back() = strides[size_t(k)][d];
        continue;
      }
    }
    sizes.push_back(shape[d]);
    for (int k = 0; k < N; ++k) st[size_t(k)].push_back(strides[size_t(k)][d]);
  }
  KILN_CHECK(sizes.size() <= size_t(kMaxKernelDims), op, ": a tensor of shape ", shape_str(shape),
             " has ", sizes.size(), " dims that cannot be merged; CUDA kernels take at most ",
             kMaxKernelDims, " (compute it on the CPU, or reshape it to fewer dims first)");
  StridedIndexer<N> ix;
  ix.ndim = int(sizes.size());
  for (size_t d = 0; d < sizes.size(); ++d) {
    ix.sizes[d] = sizes[d];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = st[size_t(k)][d];
  }
  return ix;
}

// alpha converted once, as the CPU's add_scaled converts it: to float for float32/16/bf16, kept
// as double for float64, truncated to int64 for integers, "!= 0" for bool.
struct Alpha {
  float f = 0;
  double d = 0;
  int64_t i = 0;
  bool nonzero = false;
};

template <class T>
Alpha make_alpha(double alpha) {
  Alpha a;
  a.nonzero = alpha != 0;
  if constexpr (is_float_type_v<T>) {
    a.f = float(alpha);
    a.d = alpha;
  } else if constexpr (!std::is_same_v<T, bool>) {
    a.i = int64_t(alpha);
  }
  return a;
}

template <class T>
__device__ __forceinline__ unsigned short bits_of(T v) {
  if constexpr (std::is_same_v<T, half>)
    return __half_as_ushort(v);
  else
    return __bfloat16_as_ushort(v);
}

template <class T>
__device__ __forceinline__ T from_bits(unsigned short b) {
  if constexpr (std::is_same_v<T, half>)
    return __ushort_as_half(b);
  else
    return __ushort_as_bfloat16(b);
}

// *dst = add_scaled(*dst, v, alpha) of the CPU, atomically. The explicit _rn intrinsics keep
// nvcc from contracting the product into the addition (the CPU rounds both).
template <class T>
__device__ __forceinline__ void atomic_add_scaled(T* dst, T v, const Alpha& a) {
  if constexpr (std::is_same_v<T, bool>) {
    // A logical or: every writer stores the same value, so plain stores suffice.
    if (v && a.nonzero) *dst = true;
  } else if constexpr (std::is_same_v<T, float>) {
    atomicAdd(dst, __fmul_rn(a.f, v));
  } else if constexpr (std::is_same_v<T, double>) {
    atomicAdd(dst, __dmul_rn(a.d, v));
  } else if constexpr (is_reduced_float_v<T>) {
    // 16-bit compare-and-swap (sm_70+): float(old) + inc rounded once to T, as on the CPU.
    const float inc = __fmul_rn(a.f, convert<float>(v));
    unsigned short* word = reinterpret_cast<unsigned short*>(dst);
    unsigned short old = *word, assumed;
    do {
      assumed = old;
      const float sum = __fadd_rn(convert<float>(from_bits<T>(assumed)), inc);
      old = atomicCAS(word, assumed, bits_of(convert<T>(sum)));
    } while (old != assumed);  // compares bits, so a NaN does not loop forever
  } else if constexpr (std::is_same_v<T, int32_t>) {
    // Two's complement wrap-around, as T(int64(a) + alpha * int64(b)) on the CPU.
    const uint64_t inc = uint64_t(a.i) * uint64_t(int64_t(v));
    atomicAdd(reinterpret_cast<unsigned int*>(dst), static_cast<unsigned int>(inc));
  } else if constexpr (std::is_same_v<T, int64_t>) {
    static_assert(sizeof(unsigned long long) == sizeof(int64_t));
    const uint64_t inc = uint64_t(a.i) * uint64_t(v);
    atomicAdd(reinterpret_cast<unsigned long long*>(dst), static_cast<unsigned long long>(inc));
  } else {
    static_assert(std::is_same_v<T, uint8_t>, "atomic_add_scaled: unexpected type");
    // uint8 goes through accumulate_serial_kernel (no 8-bit atomics).
  }
}

// The CPU's add_scaled for uint8 (the serial path).
__device__ __forceinline__ uint8_t add_scaled_u8(uint8_t a, uint8_t b, const Alpha& al) {
  return uint8_t(int64_t(a) + al.i * int64_t(b));
}

// out[o0] = x[o1 + index[o2] * xsd]: index_select and gather.
template <class T>
__global__ void __launch_bounds__(kBlockSize)
    take_kernel(int64_t n, StridedIndexer<3> ix, const T* __restrict__ x,
                const int64_t* __restrict__ index, T* __restrict__ out, int64_t xsd) {
  grid_stride(n, [&](int64_t i) {
    int64_t o[3];
    ix.offsets(i, o);
    out[o[0]] = x[o[1] + index[o[2]] * xsd];
  });
}

// out[o0 + index[o2] * osd] += alpha * src[o1], atomically: index_add and scatter_add.
template <class T>
__global__ void __launch_bounds__(kBlockSize)
    accumulate_kernel(int64_t n, StridedIndexer<3> ix, T* out, const T* __restrict__ src,
                      const int64_t* __restrict__ index, int64_t osd, Alpha alpha) {
  grid_stride(n, [&](int64_t i) {
    int64_t o[3];
    ix.offsets(i, o);
    atomic_add_scaled(out + o[0] + index[o[2]] * osd, src[o[1]], alpha);
  });
}

// The CPU's loop for uint8: one thread per non-indexed position (the "rest"), walking the
// indexed dim in order, so no two threads touch one element.
__global__ void __launch_bounds__(kBlockSize)
    accumulate_serial_kernel(int64_t n_rest, StridedIndexer<3> ix, uint8_t* out,
                             const uint8_t* __restrict__ src, const int64_t* __restrict__ index,
                             int64_t m, int64_t osd, int64_t ssd, int64_t isd, Alpha alpha) {
  grid_stride(n_rest, [&](int64_t r) {
    int64_t o[3];
    ix.offsets(r, o);
    for (int64_t j = 0; j < m; ++j) {
      uint8_t* dst = out + o[0] + index[o[2] + j * isd] * osd;
      *dst = add_scaled_u8(*dst, src[o[1] + j * ssd], alpha);
    }
  });
}

// Position i of index (row-major over its shape) in the CPU's write order: along dim outermost,
// then the rest row-major. `inner` = product of index sizes after dim, `m` = size along dim,
// `rest` = numel / m. Returns order + 1, so that 0 means "no writer".
__device__ __forceinline__ unsigned long long write_order(int64_t i, int64_t inner, int64_t m,
                                                          int64_t rest) {
  const int64_t j = (i / inner) % m;
  const int64_t r = (i / (inner * m)) * inner + i % inner;
  return static_cast<unsigned long long>(j * rest + r) + 1ull;
}

// Pass 1 of scatter: claim[target] = the last writer (in the CPU's order) of each target.
__global__ void __launch_bounds__(kBlockSize)
    scatter_claim_kernel(int64_t n, StridedIndexer<2> ix, const int64_t* __restrict__ index,
                         int64_t osd, int64_t inner, int64_t m, int64_t rest,
                         unsigned long long* claim) {
  grid_stride(n, [&](int64_t i) {
    int64_t o[2];
    ix.offsets(i, o);
    atomicMax(claim + o[0] + index[o[1]] * osd, write_order(i, inner, m, rest));
  });
}

// Pass 2 of scatter: out[target] = src[o1] by the writer that claimed the target (every writer
// when claim is null: no target can be written twice).
template <class T>
__global__ void __launch_bounds__(kBlockSize)
    scatter_write_kernel(int64_t n, StridedIndexer<3> ix, T* out, const T* __restrict__ src,
                         const int64_t* __restrict__ index, int64_t osd, int64_t inner, int64_t m,
                         int64_t rest, const unsigned long long* __restrict__ claim) {
  grid_stride(n, [&](int64_t i) {
    int64_t o[3];
    ix.offsets(i, o);
    const int64_t target = o[0] + index[o[2]] * osd;
    if (claim == nullptr || claim[target] == write_order(i, inner, m, rest))
      out[target] = src[o[1]];
  });
}

// Elements spanned by a view with non-negative strides: 1 + the largest element offset.
int64_t extent(const Tensor& t, const char* op) {
  int64_t e = 1;
  for (int64_t d = 0; d < t.dim(); ++d) {
    KILN_CHECK(t.stride(d) >= 0, op, ": negative strides are not supported, got strides ",
               shape_str(t.strides()));
    e += (t.size(d) - 1) * t.stride(d);
  }
  return e;
}

// index_add: over src's shape, with operands out (dim zeroed), src and the position along dim
// (which picks the index entry).
template <class T>
void launch_index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
                      double alpha, cudaStream_t stream) {
  constexpr const char* kOp = "index_add";
  const Alpha a = make_alpha<T>(alpha);
  T* po = ptr<T>(out);
  const T* ps = ptr<const T>(src);
  const int64_t* pi = ptr<const int64_t>(index);
  const int64_t osd = out.stride(dim), isd = index.stride(0);
  if constexpr (std::is_same_v<T, uint8_t>) {
    const int64_t ssd = src.stride(dim);
    const Shape rest = without(src.shape(), dim);
    const int64_t n_rest = numel_of(rest);
    const int64_t m = index.numel();
    if (n_rest == 0 || m == 0) return;
    auto ix = geometry<3>(
        rest, {without(out.strides(), dim), without(src.strides(), dim), Shape(rest.size(), 0)},
        kOp);
    accumulate_serial_kernel<<<grid_size(n_rest), kBlockSize, 0, stream>>>(n_rest, ix, po, ps, pi,
                                                                           m, osd, ssd, isd, a);
    KILN_CUDA_CHECK_LAUNCH(kOp);
  } else {
    const int64_t n = src.numel();
    if (n == 0) return;
    auto ix = geometry<3>(
        src.shape(),
        {with(out.strides(), dim, 0), src.strides(), only(size_t(src.dim()), dim, isd)}, kOp);
    accumulate_kernel<T><<<grid_size(n), kBlockSize, 0, stream>>>(n, ix, po, ps, pi, osd, a);
    KILN_CUDA_CHECK_LAUNCH(kOp);
  }
}

template <class T>
void launch_scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
                        cudaStream_t stream) {
  constexpr const char* kOp = "scatter_add";
  const Alpha a = make_alpha<T>(1.0);
  T* po = ptr<T>(out);
  const T* ps = ptr<const T>(src);
  const int64_t* pi = ptr<const int64_t>(index);
  const int64_t osd = out.stride(dim);
  if constexpr (std::is_same_v<T, uint8_t>) {
    const Shape rest = without(index.shape(), dim);
    const int64_t n_rest = numel_of(rest);
    const int64_t m = index.size(dim);
    if (n_rest == 0 || m == 0) return;
    auto ix = geometry<3>(
        rest,
        {without(out.strides(), dim), without(src.strides(), dim), without(index.strides(), dim)},
        kOp);
    accumulate_serial_kernel<<<grid_size(n_rest), kBlockSize, 0, stream>>>(
        n_rest, ix, po, ps, pi, m, osd, src.stride(dim), index.stride(dim), a);
    KILN_CUDA_CHECK_LAUNCH(kOp);
  } else {
    const int64_t n = index.numel();
    if (n == 0) return;
    auto ix = geometry<3>(index.shape(),
                          {with(out.strides(), dim, 0), src.strides(), index.strides()}, kOp);
    accumulate_kernel<T><<<grid_size(n), kBlockSize, 0, stream>>>(n, ix, po, ps, pi, osd, a);
    KILN_CUDA_CHECK_LAUNCH(kOp);
  }
}

template <class T>
void launch_scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
                    int device, cudaStream_t stream) {
  constexpr const char* kOp = "scatter";
  const int64_t n = index.numel();
  if (n == 0) return;
  T* po = ptr<T>(out);
  const T* ps = ptr<const T>(src);
  const int64_t* pi = ptr<const int64_t>(index);
  const int64_t osd = out.stride(dim);
  const int64_t m = index.size(dim);
  int64_t inner = 1;
  for (int64_t d = dim + 1; d < index.dim(); ++d) inner *= index.size(d);
  const int64_t rest = n / m;
  // With one position along dim and an output whose elements are distinct, no target is written
  // twice: a single pass suffices.
  const bool single_writer = m == 1 && out.is_contiguous();
  unsigned long long* claim = nullptr;
  struct Free {
    void* p;
    int device;
    ~Free() { raw_free(p, device); }  // stream-ordered: after the kernels that use it
  } free_claim{nullptr, device};
  if (!single_writer) {
    const int64_t targets = extent(out, kOp);
    const size_t nbytes = size_t(targets) * sizeof(unsigned long long);
    claim = static_cast<unsigned long long*>(raw_allocate(nbytes, device, kOp));
    free_claim.p = claim;
    KILN_CUDA_CHECK(cudaMemsetAsync(claim, 0, nbytes, stream), kOp);
    auto ix2 = geometry<2>(index.shape(), {with(out.strides(), dim, 0), index.strides()}, kOp);
    scatter_claim_kernel<<<grid_size(n), kBlockSize, 0, stream>>>(n, ix2, pi, osd, inner, m, rest,
                                                                  claim);
    KILN_CUDA_CHECK_LAUNCH(kOp);
  }
  auto ix = geometry<3>(index.shape(),
                        {with(out.strides(), dim, 0), src.strides(), index.strides()}, kOp);
  scatter_write_kernel<T>
      <<<grid_size(n), kBlockSize, 0, stream>>>(n, ix, po, ps, pi, osd, inner, m, rest, claim);
  KILN_CUDA_CHECK_LAUNCH(kOp);
}

}  // namespace

void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  constexpr const char* kOp = "index_select";
  KILN_CHECK(x.dim() >= 1 && index.dim() == 1 && out.dim() == x.dim(),
             "index_select: kernel expects a 1-D index and an input of at least 1 dimension, got ",
             shape_str(x.shape()), " and index ", shape_str(index.shape()));
  KILN_CHECK(index.dtype() == DType::Int64 && out.dtype() == x.dtype(),
             "index_select: kernel expects an int64 index and an output of the input's dtype");
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  // Over out's shape: x's position without the indexed dim; the index advances along dim only.
  auto ix = geometry<3>(
      out.shape(),
      {out.strides(), with(x.strides(), dim, 0), only(size_t(out.dim()), dim, index.stride(0))},
      kOp);
  const int64_t xsd = x.stride(dim);
  dispatch_all(x.dtype(), [&]<class T>() {
    take_kernel<T><<<grid_size(n), kBlockSize, 0, stream>>>(
        n, ix, ptr<const T>(x), ptr<const int64_t>(index), ptr<T>(out), xsd);
    KILN_CUDA_CHECK_LAUNCH(kOp);
  });
}

void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
               double alpha) {
  KILN_CHECK(out.dim() >= 1 && index.dim() == 1 && src.dim() == out.dim(),
             "index_add: kernel expects a 1-D index and tensors of at least 1 dimension, got ",
             shape_str(out.shape()), " and index ", shape_str(index.shape()));
  KILN_CHECK(index.dtype() == DType::Int64 && src.dtype() == out.dtype(),
             "index_add: kernel expects an int64 index and a source of the output's dtype");
  const int device = out.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  dispatch_all(out.dtype(),
               [&]<class T>() { launch_index_add<T>(out, dim, index, src, alpha, stream); });
}

void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  constexpr const char* kOp = "gather";
  KILN_CHECK(x.dim() >= 1 && index.dim() == x.dim() && out.shape() == index.shape(),
             "gather: kernel expects index and output of the input's rank, got ",
             shape_str(x.shape()), ", index ", shape_str(index.shape()), " and output ",
             shape_str(out.shape()));
  KILN_CHECK(index.dtype() == DType::Int64 && out.dtype() == x.dtype(),
             "gather: kernel expects an int64 index and an output of the input's dtype");
  const int64_t n = index.numel();
  if (n == 0) return;
  const int device = out.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  auto ix =
      geometry<3>(index.shape(), {out.strides(), with(x.strides(), dim, 0), index.strides()}, kOp);
  const int64_t xsd = x.stride(dim);
  dispatch_all(x.dtype(), [&]<class T>() {
    take_kernel<T><<<grid_size(n), kBlockSize, 0, stream>>>(
        n, ix, ptr<const T>(x), ptr<const int64_t>(index), ptr<T>(out), xsd);
    KILN_CUDA_CHECK_LAUNCH(kOp);
  });
}

void scatter(OpId op, const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  KILN_CHECK(op == OpId::Scatter || op == OpId::ScatterAdd, "scatter: unexpected op ", op_name(op));
  KILN_CHECK(out.dim() >= 1 && index.dim() == out.dim() && src.dim() == out.dim(),
             "scatter: kernel expects output, index and source of the same rank, got ",
             shape_str(out.shape()), ", index ", shape_str(index.shape()), " and source ",
             shape_str(src.shape()));
  KILN_CHECK(index.dtype() == DType::Int64 && src.dtype() == out.dtype(),
             "scatter: kernel expects an int64 index and a source of the output's dtype");
  const int device = out.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  dispatch_all(out.dtype(), [&]<class T>() {
    if (op == OpId::ScatterAdd)
      launch_scatter_add<T>(out, dim, index, src, stream);
    else
      launch_scatter<T>(out, dim, index, src, device, stream);
  });
}

}  // namespace kiln::cuda
