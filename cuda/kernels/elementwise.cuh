#pragma once
// The elementwise map machinery shared by unary.cu and binary.cu, the CUDA counterpart of
// src/cpu/map.h: out = f(x) and out = f(a, b), loading each element as In, computing in A
// (float for float32/16/bf16, double for float64, int64 for integers, as the CPU does) and
// storing as Out. Two paths, chosen on the host:
//   - vector: In == Out is float32/16/bf16, out contiguous, every input contiguous or a single
//     broadcast value (x * 0.5), all non-broadcast pointers 16-byte aligned: 128-bit loads and
//     stores with a scalar tail;
//   - strided: anything else, through StridedIndexer (a contiguous or merged tensor is one dim,
//     addressed without division).
// Results never depend on the path: each element is computed by the same functor.
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "common/dtype.cuh"
#include "common/launch.cuh"
#include "common/strided.h"
#include "common/vec.cuh"
#include "core/tensor_impl.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {

// The address of the view's first element (Tensor::data_ptr is for CPU tensors).
inline void* raw_ptr(const Tensor& t) { return t.impl()->data(); }

// Every element of t reads one value: all dims of size > 1 have stride 0 (a broadcast number).
inline bool is_broadcast_scalar(const Tensor& t) {
  for (size_t d = 0; d < t.shape().size(); ++d)
    if (t.shape()[d] != 1 && t.strides()[d] != 0) return false;
  return true;
}

// Offsets with the common one-dim case (contiguous or merged to one stride) free of divisions.
template <int N>
__device__ __forceinline__ void strided_offsets(const StridedIndexer<N>& ix, int64_t i,
                                                int64_t (&o)[N]) {
  if (ix.ndim == 1) {
#pragma unroll
    for (int k = 0; k < N; ++k) o[k] = i * ix.strides[k][0];
  } else {
    ix.offsets(i, o);
  }
}

template <class In, class Out, class A, class F>
struct Map1Strided {
  StridedIndexer<2> ix;  // operand 0: out, 1: x
  Out* out;
  const In* x;
  F f;
  __device__ void operator()(int64_t i) const {
    int64_t o[2];
    strided_offsets(ix, i, o);
    out[o[0]] = convert<Out>(f(convert<A>(x[o[1]])));
  }
};

template <class In, class Out, class A, class F>
struct Map2Strided {
  StridedIndexer<3> ix;  // operand 0: out, 1: a, 2: b
  Out* out;
  const In* a;
  const In* b;
  F f;
  __device__ void operator()(int64_t i) const {
    int64_t o[3];
    strided_offsets(ix, i, o);
    out[o[0]] = convert<Out>(f(convert<A>(a[o[1]]), convert<A>(b[o[2]])));
  }
};

template <class T, class A, class F>
__global__ void __launch_bounds__(kBlockSize) map1_vec_kernel(int64_t n, T* out, const T* x, F f) {
  constexpr int V = kVecWidth<T>;
  const int64_t nvec = n / V;
  const Vec<T>* xv = reinterpret_cast<const Vec<T>*>(x);
  Vec<T>* ov = reinterpret_cast<Vec<T>*>(out);
  grid_stride(nvec, [&](int64_t v) {
    const Vec<T> p = xv[v];
    Vec<T> r;
#pragma unroll
    for (int j = 0; j < V; ++j) r.val[j] = convert<T>(f(convert<A>(p.val[j])));
    ov[v] = r;
  });
  const int64_t done = nvec * V;
  grid_stride(n - done, [&](int64_t j) { out[done + j] = convert<T>(f(convert<A>(x[done + j]))); });
}

// a_scalar / b_scalar: that operand is one broadcast value, read once per thread.
template <class T, class A, class F>
__global__ void __launch_bounds__(kBlockSize)
    map2_vec_kernel(int64_t n, T* out, const T* a, const T* b, bool a_scalar, bool b_scalar, F f) {
  constexpr int V = kVecWidth<T>;
  const int64_t nvec = n / V;
  const A sa = a_scalar ? convert<A>(a[0]) : A(0);
  const A sb = b_scalar ? convert<A>(b[0]) : A(0);
  const Vec<T>* av = reinterpret_cast<const Vec<T>*>(a);
  const Vec<T>* bv = reinterpret_cast<const Vec<T>*>(b);
  Vec<T>* ov = reinterpret_cast<Vec<T>*>(out);
  grid_stride(nvec, [&](int64_t v) {
    Vec<T> pa, pb, r;
    if (!a_scalar) pa = av[v];
    if (!b_scalar) pb = bv[v];
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const A x = a_scalar ? sa : convert<A>(pa.val[j]);
      const A y = b_scalar ? sb : convert<A>(pb.val[j]);
      r.val[j] = convert<T>(f(x, y));
    }
    ov[v] = r;
  });
  const int64_t done = nvec * V;
  grid_stride(n - done, [&](int64_t j) {
    const int64_t i = done + j;
    const A x = a_scalar ? sa : convert<A>(a[i]);
    const A y = b_scalar ? sb : convert<A>(b[i]);
    out[i] = convert<T>(f(x, y));
  });
}

// Blocks for the vector kernels: enough for the vectors, at least one for a short tail.
template <class T>
unsigned vec_grid_size(int64_t n) {
  return grid_size(n / kVecWidth<T> > 0 ? n / kVecWidth<T> : 1);
}

// out = f(x) elementwise; every tensor on one CUDA device, of out's shape.
template <class In, class Out, class A, class F>
void map1(const char* op, const Tensor& x, const Tensor& out, F f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  Out* o = static_cast<Out*>(raw_ptr(out));
  const In* in = static_cast<const In*>(raw_ptr(x));
  if constexpr (std::is_same_v<In, Out> && is_vectorizable_v<In>) {
    if (out.is_contiguous() && x.is_contiguous() && is_aligned(o) && is_aligned(in)) {
      map1_vec_kernel<In, A><<<vec_grid_size<In>(n), kBlockSize, 0, stream>>>(n, o, in, f);
      KILN_CUDA_CHECK_LAUNCH(op);
      return;
    }
  }
  launch_elementwise(op, n, stream,
                     Map1Strided<In, Out, A, F>{make_indexer<2>({&out, &x}, op), o, in, f});
}

// out = f(a, b) elementwise; a and b arrive broadcast to out's shape (stride-0 views).
template <class In, class Out, class A, class F>
void map2(const char* op, const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  Out* o = static_cast<Out*>(raw_ptr(out));
  const In* pa = static_cast<const In*>(raw_ptr(a));
  const In* pb = static_cast<const In*>(raw_ptr(b));
  if constexpr (std::is_same_v<In, Out> && is_vectorizable_v<In>) {
    const bool a_scalar = !a.is_contiguous() && is_broadcast_scalar(a);
    const bool b_scalar = !b.is_contiguous() && is_broadcast_scalar(b);
    const bool a_ok = a_scalar || (a.is_contiguous() && is_aligned(pa));
    const bool b_ok = b_scalar || (b.is_contiguous() && is_aligned(pb));
    if (out.is_contiguous() && is_aligned(o) && a_ok && b_ok) {
      map2_vec_kernel<In, A>
          <<<vec_grid_size<In>(n), kBlockSize, 0, stream>>>(n, o, pa, pb, a_scalar, b_scalar, f);
      KILN_CUDA_CHECK_LAUNCH(op);
      return;
    }
  }
  launch_elementwise(op, n, stream,
                     Map2Strided<In, Out, A, F>{make_indexer<3>({&out, &a, &b}, op), o, pa, pb, f});
}

}  // namespace kiln::cuda
