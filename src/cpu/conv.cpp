// Convolution on the CPU: im2col + GEMM (OpenBLAS) over 1, 2 or 3 spatial dims, and Winograd
// F(2x2, 3x3) (src/cpu/conv_winograd.cpp) for float 3x3 convolutions with stride 1.
//
// Every case is run as a 3-D one (a 1-D or 2-D convolution gets leading spatial dims of size
// 1), on contiguous operands of the GEMM type G (float for float32/float16/bfloat16, double for
// float64): inputs that are strided (channels-last) or of a half type are copied into such a
// scratch first, and a result that is not contiguous G is written through one. For sample n and
// group g, with L output positions and R = C/groups * taps rows:
//   forward          y[n, g] [OCg, L] = w[g] [OCg, R] @ im2col(x[n, g]) [R, L]
//   backward data    dx[n, g] = col2im(w[g]^T [R, OCg] @ dy[n, g] [OCg, L]); with stride 1 it
//                    is instead the forward convolution of dy with the flipped kernel
//   backward weight  dw[g] [OCg, R] = sum_n dy[n, g] [OCg, L] @ im2col(x[n, g])^T [L, R]
// A 1x1 convolution with stride 1 and no padding has im2col(x) = x and skips the copy. float64
// always takes im2col + GEMM: it is the exact reference the tests compare against.
//
// Threads: with at least two samples the batch is split across OpenMP threads, each with its own
// column buffer, and OpenBLAS (the OpenMP build, see CMakeLists.txt) runs single-threaded
// inside the parallel region; the weight gradient sums per-thread partial results. With one
// sample, im2col / col2im split their rows across threads and GEMM uses its own threads.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <vector>

#include "cpu/conv_winograd.h"
#include "cpu/dispatch.h"
#include "cpu/host_cache.h"
#include "cpu/kernels.h"
#include "cpu/sgemm.h"
#include "kiln/ops.h"

namespace kiln::cpu {
namespace {

// One convolution's sizes with 3 spatial dims (leading ones of size 1 for 1-D/2-D).
struct Dims {
  int64_t n = 0, c = 0, oc = 0, groups = 1;
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, p{0, 0, 0}, d{1, 1, 1};

  int64_t cg() const { return c / groups; }
  int64_t ocg() const { return oc / groups; }
  int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane() const { return out[0] * out[1] * out[2]; }
  int64_t taps() const { return k[0] * k[1] * k[2]; }
  int64_t rows() const { return cg() * taps(); }  // im2col rows per group
  // im2col(x) is x itself.
  bool pointwise() const {
    for (int i = 0; i < 3; ++i)
      if (k[size_t(i)] != 1 || s[size_t(i)] != 1 || p[size_t(i)] != 0) return false;
    return true;
  }
};

// x [N, C, I...], w [OC, C / groups, K...], y [N, OC, O...] (for the backward kernels x and y
// are the shapes of dx and dy).
Dims make_dims(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  Dims d;
  d.n = x[0];
  d.c = x[1];
  d.oc = w[0];
  d.groups = g.groups;
  const size_t off = size_t(3 - g.spatial);
  for (size_t i = 0; i < size_t(g.spatial); ++i) {
    d.in[off + i] = x[2 + i];
    d.out[off + i] = y[2 + i];
    d.k[off + i] = w[2 + i];
    d.s[off + i] = g.stride[i];
    d.p[off + i] = g.padding[i];
    d.d[off + i] = g.dilation[i];
  }
  return d;
}

// The output positions o in [0, out) whose input position o * s - p + t lies in [0, in):
// [lo, hi), empty when none does.
void valid_range(int64_t t, int64_t s, int64_t p, int64_t in, int64_t out, int64_t& lo,
                 int64_t& hi) {
  const int64_t first = p - t;  // o * s >= p - t
  lo = std::min(out, first <= 0 ? 0 : (first + s - 1) / s);
  const int64_t last = in - 1 + p - t;  // o * s <= in - 1 + p - t
  hi = last < 0 ? 0 : std::min(out, last / s + 1);
  if (hi < lo) hi = lo;
}

// Row r = (c, kd, kh, kw) of one sample's columns (L values, at col + r * ld: a block of samples
// puts its samples' columns side by side). `accumulate` false: col[r] = the input values under
// that tap (zeros in the padding). true (col2im): x += col[r] at those positions.
template <class G, bool kAccumulate>
void im2col_row(const Dims& d, int64_t r, std::conditional_t<kAccumulate, G*, const G*> x,
                std::conditional_t<kAccumulate, const G*, G*> col, int64_t ld) {
  const int64_t kw = r % d.k[2], kh = r / d.k[2] % d.k[1], kd = r / (d.k[2] * d.k[1]) % d.k[0];
  const int64_t c = r / d.taps();
  const int64_t L2 = d.out[2];
  int64_t lo = 0, hi = 0;
  valid_range(kw * d.d[2], d.s[2], d.p[2], d.in[2], L2, lo, hi);
  const int64_t shift = kw * d.d[2] - d.p[2];  // input column = o * s + shift
  auto row = col + r * ld;
  for (int64_t od = 0; od < d.out[0]; ++od) {
    const int64_t id = od * d.s[0] - d.p[0] + kd * d.d[0];
    for (int64_t oh = 0; oh < d.out[1]; ++oh) {
      const int64_t ih = oh * d.s[1] - d.p[1] + kh * d.d[1];
      auto line = row + (od * d.out[1] + oh) * L2;
      const bool inside = id >= 0 && id < d.in[0] && ih >= 0 && ih < d.in[1];
      if constexpr (kAccumulate) {
        if (!inside) continue;
        G* src = x + ((c * d.in[0] + id) * d.in[1] + ih) * d.in[2] + shift;
        if (d.s[2] == 1)
          for (int64_t o = lo; o < hi; ++o) src[o] += line[o];
        else
          for (int64_t o = lo; o < hi; ++o) src[o * d.s[2]] += line[o];
      } else {
        if (!inside) {
          std::fill(line, line + L2, G(0));
          continue;
        }
        const G* src = x + ((c * d.in[0] + id) * d.in[1] + ih) * d.in[2] + shift;
        std::fill(line, line + lo, G(0));
        if (d.s[2] == 1)
          std::memcpy(line + lo, src + lo, size_t(hi - lo) * sizeof(G));
        else
          for (int64_t o = lo; o < hi; ++o) line[o] = src[o * d.s[2]];
        std::fill(line + hi, line + L2, G(0));
      }
    }
  }
}

// col [R, L] (rows ld apart) from x [C/groups, I] (one sample and group).
template <class G>
void im2col(const Dims& d, const G* x, G* col, int64_t ld, bool parallel) {
  const int64_t rows = d.rows();
#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t r = 0; r < rows; ++r) im2col_row<G, false>(d, r, x, col, ld);
}

// x [C/groups, I] += the columns scattered back (x zeroed by the caller). Rows of one channel
// overlap in x, so threads split channels.
template <class G>
void col2im(const Dims& d, const G* col, int64_t ld, G* x, bool parallel) {
  const int64_t channels = d.cg(), taps = d.taps();
#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t t = 0; t < taps; ++t) im2col_row<G, true>(d, c * taps + t, x, col, ld);
}

// Row-major C [m, n] = op(A) @ op(B) + beta * C.
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  sgemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
              int(n), int(k), 1.0, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

// Whether to split the batch across threads (else: threads inside im2col and GEMM).
bool batch_parallel(const Dims& d) { return d.n >= 2 && omp_get_max_threads() > 1; }

// Output positions per GEMM the im2col path aims for: small planes (4x4, 8x8) are batched over
// several samples so that the products are wide enough for BLAS to run at speed (a 3x3 256->512
// convolution onto 4x4 ran 15 % faster; larger targets slowed 16x16 planes down).
constexpr int64_t kColumnTarget = 256;

// One thread's buffers for a block of `count` samples, whose columns lie side by side.
template <class G>
struct Workspace {
  HostScratch<G> cols_, rows_;  // from the block cache: no page faults, no zeroing

  G* column_buffer(size_t n) { return cols_.grow(n); }
  G* rows(int64_t n) { return rows_.grow(size_t(n)); }
  // The im2col columns [R, count * L] of group g's channels of samples [n0, n0 + count); a
  // single pointwise sample is its own column matrix.
  const G* columns(const Dims& d, int64_t n0, int64_t count, int64_t g, const G* x, bool pointwise,
                   bool inner_parallel) {
    const int64_t L = d.out_plane(), I = d.in_plane();
    if (pointwise && count == 1) return x + (n0 * d.c + g * d.cg()) * I;
    G* c = column_buffer(size_t(d.rows() * count * L));
    for (int64_t s = 0; s < count; ++s)
      im2col(d, x + ((n0 + s) * d.c + g * d.cg()) * I, c + s * L, count * L, inner_parallel);
    return c;
  }
  // t's rows [channels/groups, L] of group g for the samples, side by side: [rows, count * L]
  // (t itself for one sample). t has `channels` channels of L values per sample.
  const G* gather(const Dims& d, int64_t n0, int64_t count, int64_t g, int64_t channels,
                  int64_t per_group, const G* t) {
    const int64_t L = d.out_plane();
    const G* base = t + (n0 * channels + g * per_group) * L;
    if (count == 1) return base;
    G* r = rows(per_group * count * L);
    for (int64_t s = 0; s < count; ++s)
      for (int64_t o = 0; o < per_group; ++o)
        std::memcpy(r + o * count * L + s * L, base + (s * channels + o) * L,
                    size_t(L) * sizeof(G));
    return r;
  }
  // The inverse of gather: rows_ [per_group, count * L] into group g of t.
  void scatter(const Dims& d, int64_t n0, int64_t count, int64_t g, int64_t channels,
               int64_t per_group, G* t) const {
    const int64_t L = d.out_plane();
    G* base = t + (n0 * channels + g * per_group) * L;
    for (int64_t s = 0; s < count; ++s)
      for (int64_t o = 0; o < per_group; ++o)
        std::memcpy(base + (s * channels + o) * L, rows_.data() + o * count * L + s * L,
                    size_t(L) * sizeof(G));
  }
};

// Runs body(n0, count, workspace, inner_parallel) over blocks of samples: split across threads
// (each with its own workspace; BLAS single-threaded inside) when the batch allows, else in
// turn with threads inside im2col / col2im and BLAS.
template <class G, class Body>
void for_blocks(const Dims& d, Body&& body) {
  const bool parallel = batch_parallel(d);
  const int threads = parallel ? omp_get_max_threads() : 1;
  const int64_t L = std::max<int64_t>(d.out_plane(), 1);
  int64_t nb = std::max<int64_t>(1, (kColumnTarget + L - 1) / L);
  nb = std::min(nb, std::max<int64_t>(1, (d.n + threads - 1) / threads));
  const int64_t blocks = (d.n + nb - 1) / nb;
  if (parallel) {
#pragma omp parallel num_threads(threads)
    {
      Workspace<G> ws;
#pragma omp for schedule(static)
      for (int64_t b = 0; b < blocks; ++b) body(b * nb, std::min(nb, d.n - b * nb), ws, false);
    }
  } else {
    Workspace<G> ws;
    for (int64_t b = 0; b < blocks; ++b) body(b * nb, std::min(nb, d.n - b * nb), ws, true);
  }
}

Winograd3x3 winograd_geometry(const Dims& d) {
  Winograd3x3 wg;
  wg.n = d.n;
  wg.c = d.c;
  wg.oc = d.oc;
  wg.groups = d.groups;
  wg.h = d.in[1];
  wg.w = d.in[2];
  wg.oh = d.out[1];
  wg.ow = d.out[2];
  wg.ph = d.p[1];
  wg.pw = d.p[2];
  return wg;
}

// A 2-D 3x3 convolution with stride 1 and dilation 1 and enough channels for Winograd.
bool use_winograd(const Dims& d) {
  return d.in[0] == 1 && d.out[0] == 1 && d.k == std::array<int64_t, 3>{1, 3, 3} && d.s[1] == 1 &&
         d.s[2] == 1 && d.d[1] == 1 && d.d[2] == 1 && winograd_worthwhile(d.cg(), d.ocg());
}

template <class G>
void forward_core(const Dims& d, const G* x, const G* w, G* y) {
  if constexpr (std::is_same_v<G, float>) {
    if (use_winograd(d)) {
      winograd_conv3x3(winograd_geometry(d), x, w, y, batch_parallel(d));
      return;
    }
  }
  const int64_t R = d.rows(), L = d.out_plane(), ocg = d.ocg();
  const bool pointwise = d.pointwise();
  for_blocks<G>(d, [&](int64_t n0, int64_t count, Workspace<G>& ws, bool inner_parallel) {
    const int64_t ld = count * L;
    for (int64_t g = 0; g < d.groups; ++g) {
      const G* b = ws.columns(d, n0, count, g, x, pointwise, inner_parallel);
      G* out = count == 1 ? y + (n0 * d.oc + g * ocg) * L : ws.rows(ocg * ld);
      gemm(false, false, ocg, ld, R, w + g * ocg * R, R, b, ld, G(0), out, ld);
      if (count > 1) ws.scatter(d, n0, count, g, d.oc, ocg, y);
    }
  });
}

// With stride 1 the data gradient is a convolution of dy with the kernel flipped in space and
// its channel dims swapped per group, padded by dilation * (kernel - 1) - padding: one im2col
// (or Winograd) + GEMM like the forward, instead of a GEMM into columns + col2im.
bool flippable(const Dims& d) {
  for (size_t i = 0; i < 3; ++i)
    if (d.s[i] != 1 || d.p[i] > d.d[i] * (d.k[i] - 1)) return false;
  return true;
}

// w [OC, C/g, K...] -> [C, OC/g, K...] flipped in every spatial dim.
template <class G>
std::vector<G> flip_weight(const Dims& d, const G* w) {
  const int64_t taps = d.taps(), cg = d.cg(), ocg = d.ocg();
  std::vector<G> f(size_t(d.oc * cg * taps));
  for (int64_t o = 0; o < d.oc; ++o)
    for (int64_t c = 0; c < cg; ++c) {
      const G* src = w + (o * cg + c) * taps;
      G* dst = f.data() + (((o / ocg) * cg + c) * ocg + o % ocg) * taps;
      for (int64_t t = 0; t < taps; ++t) dst[t] = src[taps - 1 - t];
    }
  return f;
}

template <class G>
void backward_data_core(const Dims& d, const G* dy, const G* w, G* dx) {
  if (flippable(d)) {
    Dims t = d;
    std::swap(t.c, t.oc);
    std::swap(t.in, t.out);
    for (size_t i = 0; i < 3; ++i) t.p[i] = d.d[i] * (d.k[i] - 1) - d.p[i];
    const std::vector<G> wf = flip_weight(d, w);
    forward_core<G>(t, dy, wf.data(), dx);
    return;
  }
  // Strided (or over-padded) convolutions: the columns, then col2im.
  const int64_t R = d.rows(), L = d.out_plane(), I = d.in_plane(), ocg = d.ocg();
  for_blocks<G>(d, [&](int64_t n0, int64_t count, Workspace<G>& ws, bool inner_parallel) {
    const int64_t ld = count * L;
    for (int64_t g = 0; g < d.groups; ++g) {
      const G* a = ws.gather(d, n0, count, g, d.oc, ocg, dy);
      G* col = ws.column_buffer(size_t(R * ld));
      gemm(true, false, R, ld, ocg, w + g * ocg * R, R, a, ld, G(0), col, ld);
      for (int64_t s = 0; s < count; ++s) {
        G* dxs = dx + ((n0 + s) * d.c + g * d.cg()) * I;
        std::fill(dxs, dxs + d.cg() * I, G(0));
        col2im(d, col + s * L, ld, dxs, inner_parallel);
      }
    }
  });
}

template <class G>
void backward_weight_core(const Dims& d, const G* x, const G* dy, G* dw) {
  if constexpr (std::is_same_v<G, float>) {
    if (use_winograd(d)) {
      winograd_conv3x3_weight_grad(winograd_geometry(d), x, dy, dw, batch_parallel(d));
      return;
    }
  }
  const int64_t R = d.rows(), L = d.out_plane(), ocg = d.ocg();
  const bool pointwise = d.pointwise();
  const size_t wsize = size_t(d.oc * R);
  std::fill(dw, dw + wsize, G(0));
  // Thread 0 sums into dw, the others into their own buffers, added at the end.
  std::vector<std::vector<G>> partial(static_cast<size_t>(omp_get_max_threads()));
  for_blocks<G>(d, [&](int64_t n0, int64_t count, Workspace<G>& ws, bool inner_parallel) {
    G* acc = dw;
    if (omp_in_parallel() && omp_get_thread_num() > 0) {
      std::vector<G>& p = partial[size_t(omp_get_thread_num())];
      if (p.empty()) p.assign(wsize, G(0));
      acc = p.data();
    }
    const int64_t ld = count * L;
    for (int64_t g = 0; g < d.groups; ++g) {
      const G* b = ws.columns(d, n0, count, g, x, pointwise, inner_parallel);
      const G* a = ws.gather(d, n0, count, g, d.oc, ocg, dy);
      gemm(false, true, ocg, R, ld, a, ld, b, ld, G(1), acc + g * ocg * R, R);
    }
  });
  for (const std::vector<G>& p : partial)
    for (size_t i = 0; i < p.size(); ++i) dw[i] += p[i];
}

// The GEMM type's dtype.
template <class G>
DType gemm_dtype() {
  return std::is_same_v<G, double> ? DType::Float64 : DType::Float32;
}

// t as a contiguous tensor of the GEMM type: t itself when it is one, else a converted copy.
template <class G>
Tensor dense(const Tensor& t) {
  if (t.dtype() == gemm_dtype<G>() && t.is_contiguous()) return t;
  Tensor c = empty(t.shape(), TensorOptions(gemm_dtype<G>(), t.device()));
  copy(t, c);
  return c;
}

// Runs `core(out_ptr)` on a contiguous G buffer for `out`, copying back when out is not one.
template <class G, class Core>
void with_dense_output(const Tensor& out, Core&& core) {
  if (out.dtype() == gemm_dtype<G>() && out.is_contiguous()) {
    core(static_cast<G*>(out.data_ptr()));
    return;
  }
  Tensor scratch = empty(out.shape(), TensorOptions(gemm_dtype<G>(), out.device()));
  core(static_cast<G*>(scratch.data_ptr()));
  copy(scratch, out);
}

void check_sizes(const char* op, const Dims& d) {
  const int64_t big = std::max({d.rows(), d.out_plane(), d.in_plane(), d.oc});
  KILN_CHECK(big <= INT_MAX, op, ": matrix dimensions above 2^31 - 1 are not supported");
}

template <class F>
void dispatch_gemm(DType t, const char* op, F&& f) {
  dispatch_floating(t, op, [&]<class T>() {
    using G = std::conditional_t<std::is_same_v<T, double>, double, float>;
    f.template operator()<G>();
  });
}

}  // namespace

void conv_forward(const Tensor& x, const Tensor& w, const ConvGeometry& g, const Tensor& y) {
  const Dims d = make_dims(x.shape(), w.shape(), y.shape(), g);
  if (y.numel() == 0) return;
  check_sizes("convolution", d);
  dispatch_gemm(x.dtype(), "convolution", [&]<class G>() {
    const Tensor xc = dense<G>(x), wc = dense<G>(w);
    with_dense_output<G>(y, [&](G* out) {
      if (d.rows() == 0) {  // no input channels: an empty sum
        std::fill(out, out + y.numel(), G(0));
        return;
      }
      forward_core<G>(d, static_cast<const G*>(xc.data_ptr()), static_cast<const G*>(wc.data_ptr()),
                      out);
    });
  });
}

void conv_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g,
                        const Tensor& dx) {
  const Dims d = make_dims(dx.shape(), w.shape(), dy.shape(), g);
  if (dx.numel() == 0) return;
  check_sizes("convolution_backward_input", d);
  dispatch_gemm(dy.dtype(), "convolution_backward_input", [&]<class G>() {
    const Tensor dyc = dense<G>(dy), wc = dense<G>(w);
    with_dense_output<G>(dx, [&](G* out) {
      if (d.ocg() == 0) {
        std::fill(out, out + dx.numel(), G(0));
        return;
      }
      backward_data_core<G>(d, static_cast<const G*>(dyc.data_ptr()),
                            static_cast<const G*>(wc.data_ptr()), out);
    });
  });
}

void conv_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g,
                          const Tensor& dw) {
  const Dims d = make_dims(x.shape(), dw.shape(), dy.shape(), g);
  if (dw.numel() == 0) return;
  check_sizes("convolution_backward_weight", d);
  dispatch_gemm(x.dtype(), "convolution_backward_weight", [&]<class G>() {
    const Tensor xc = dense<G>(x), dyc = dense<G>(dy);
    with_dense_output<G>(dw, [&](G* out) {
      if (d.n == 0) {
        std::fill(out, out + dw.numel(), G(0));
        return;
      }
      backward_weight_core<G>(d, static_cast<const G*>(xc.data_ptr()),
                              static_cast<const G*>(dyc.data_ptr()), out);
    });
  });
}

}  // namespace kiln::cpu
