// Indexing kernels: index_select, index_add, gather and scatter / scatter_add. Index tensors are
// int64 and already range-checked by the op. Every tensor may have any strides. Kernels that
// write through an index (index_add, scatter) run in parallel only over the dimensions that are
// not indexed, so two writes to the same element always happen on the same thread, in order.
#include <omp.h>

#include <algorithm>
#include <array>

#include "cpu/dispatch.h"
#include "cpu/kernels.h"
#include "cpu/loop.h"

namespace kiln::cpu {
namespace {

// Calls f(offsets) for the row-major positions [begin, end) of `shape`, where offsets[k] is
// base[k] plus the position's element offset under strides[k].
template <size_t K, class F>
void walk(const Shape& shape, const std::array<Shape, K>& strides, std::array<int64_t, K> base,
          int64_t begin, int64_t end, F&& f) {
  if (begin >= end) return;
  const size_t nd = shape.size();
  std::vector<int64_t> idx(nd, 0);
  std::array<int64_t, K> off = base;
  int64_t r = begin;
  for (size_t d = nd; d-- > 0;) {
    idx[d] = r % shape[d];
    r /= shape[d];
    for (size_t k = 0; k < K; ++k) off[k] += idx[d] * strides[k][d];
  }
  for (int64_t i = begin; i < end; ++i) {
    f(off);
    for (size_t d = nd; d-- > 0;) {  // odometer step
      for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
      if (++idx[d] < shape[d]) break;
      for (size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
  }
}

// How many pieces to cut `n` positions into, given `work` element operations in all.
int64_t num_chunks(int64_t n, int64_t work) {
  if (work < kParallelGrain || n < 2) return 1;
  return std::min<int64_t>({n, int64_t(omp_get_max_threads()), work / kParallelGrain});
}

// walk() over all of `shape`, split across threads (every position is written once).
template <size_t K, class F>
void parallel_walk(const Shape& shape, const std::array<Shape, K>& strides, F&& f) {
  const int64_t n = numel_of(shape);
  if (n == 0) return;
  const int64_t chunks = num_chunks(n, n);
#pragma omp parallel for if (chunks > 1) schedule(static)
  for (int64_t c = 0; c < chunks; ++c)
    walk<K>(shape, strides, std::array<int64_t, K>{}, n * c / chunks, n * (c + 1) / chunks, f);
}

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

// a + alpha * b in the element type; half types compute in float, bool is a logical or.
template <class T>
T add_scaled(T a, T b, double alpha) {
  if constexpr (std::is_same_v<T, bool>) {
    return a || (b && alpha != 0);
  } else if constexpr (is_float_type_v<T>) {
    using A = acc_t<T>;
    return T(A(a) + A(alpha) * A(b));
  } else {
    return T(int64_t(a) + int64_t(alpha) * int64_t(b));
  }
}

// The non-indexed positions of an indexed write, split across threads. For each chunk of the
// "rest" shape (the shape without `dim`), `body(j, r0, r1)` runs for every j along dim in order.
template <class Body>
void for_rest_chunks(const Shape& rest, int64_t n_along_dim, Body&& body) {
  const int64_t r = numel_of(rest);
  if (r == 0 || n_along_dim == 0) return;
  const int64_t chunks = num_chunks(r, r * n_along_dim);
#pragma omp parallel for if (chunks > 1) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t r0 = r * c / chunks, r1 = r * (c + 1) / chunks;
    for (int64_t j = 0; j < n_along_dim; ++j) body(j, r0, r1);
  }
}

}  // namespace

void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  KILN_CHECK(x.dim() >= 1 && index.dim() == 1 && out.dim() == x.dim(),
             "index_select: kernel expects a 1-D index and an input of at least 1 dimension, got ",
             shape_str(x.shape()), " and index ", shape_str(index.shape()));
  dispatch_all(x.dtype(), [&]<class T>() {
    const T* px = ptr<const T>(x);
    const int64_t* pi = ptr<const int64_t>(index);
    T* po = ptr<T>(out);
    const int64_t xsd = x.strides()[size_t(dim)];
    // x's position without the indexed dim; the index advances along dim only.
    Shape index_strides(size_t(out.dim()), 0);
    index_strides[size_t(dim)] = index.strides()[0];
    parallel_walk<3>(
        out.shape(), {out.strides(), with(x.strides(), dim, 0), index_strides},
        [&](const std::array<int64_t, 3>& o) { po[o[0]] = px[o[1] + pi[o[2]] * xsd]; });
  });
}

void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
               double alpha) {
  KILN_CHECK(out.dim() >= 1 && index.dim() == 1 && src.dim() == out.dim(),
             "index_add: kernel expects a 1-D index and tensors of at least 1 dimension, got ",
             shape_str(out.shape()), " and index ", shape_str(index.shape()));
  dispatch_all(out.dtype(), [&]<class T>() {
    T* po = ptr<T>(out);
    const T* ps = ptr<const T>(src);
    const int64_t* pi = ptr<const int64_t>(index);
    const int64_t osd = out.strides()[size_t(dim)], ssd = src.strides()[size_t(dim)];
    const int64_t isd = index.strides()[0];
    const Shape rest = without(src.shape(), dim);
    const std::array<Shape, 2> strides{without(out.strides(), dim), without(src.strides(), dim)};
    for_rest_chunks(rest, index.numel(), [&](int64_t j, int64_t r0, int64_t r1) {
      walk<2>(rest, strides, {pi[j * isd] * osd, j * ssd}, r0, r1,
              [&](const std::array<int64_t, 2>& o) {
                po[o[0]] = add_scaled(po[o[0]], ps[o[1]], alpha);
              });
    });
  });
}

void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  KILN_CHECK(x.dim() >= 1 && index.dim() == x.dim() && out.shape() == index.shape(),
             "gather: kernel expects index and output of the input's rank, got ",
             shape_str(x.shape()), ", index ", shape_str(index.shape()), " and output ",
             shape_str(out.shape()));
  dispatch_all(x.dtype(), [&]<class T>() {
    const T* px = ptr<const T>(x);
    const int64_t* pi = ptr<const int64_t>(index);
    T* po = ptr<T>(out);
    const int64_t xsd = x.strides()[size_t(dim)];
    parallel_walk<3>(
        index.shape(), {out.strides(), with(x.strides(), dim, 0), index.strides()},
        [&](const std::array<int64_t, 3>& o) { po[o[0]] = px[o[1] + pi[o[2]] * xsd]; });
  });
}

void scatter(OpId op, const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  KILN_CHECK(op == OpId::Scatter || op == OpId::ScatterAdd, "scatter: unexpected op ", op_name(op));
  KILN_CHECK(out.dim() >= 1 && index.dim() == out.dim() && src.dim() == out.dim(),
             "scatter: kernel expects output, index and source of the same rank, got ",
             shape_str(out.shape()), ", index ", shape_str(index.shape()), " and source ",
             shape_str(src.shape()));
  const bool accumulate = op == OpId::ScatterAdd;
  dispatch_all(out.dtype(), [&]<class T>() {
    T* po = ptr<T>(out);
    const T* ps = ptr<const T>(src);
    const int64_t* pi = ptr<const int64_t>(index);
    const int64_t osd = out.strides()[size_t(dim)], ssd = src.strides()[size_t(dim)];
    const int64_t isd = index.strides()[size_t(dim)];
    const Shape rest = without(index.shape(), dim);
    const std::array<Shape, 3> strides{without(out.strides(), dim), without(src.strides(), dim),
                                       without(index.strides(), dim)};
    for_rest_chunks(rest, index.shape()[size_t(dim)], [&](int64_t j, int64_t r0, int64_t r1) {
      walk<3>(rest, strides, {0, j * ssd, j * isd}, r0, r1, [&](const std::array<int64_t, 3>& o) {
        T& dst = po[o[0] + pi[o[2]] * osd];
        dst = accumulate ? add_scaled(dst, ps[o[1]], 1.0) : ps[o[1]];
      });
    });
  });
}

}  // namespace kiln::cpu
