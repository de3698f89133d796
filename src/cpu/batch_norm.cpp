// Batch normalisation (Backend::batch_norm_forward / batch_norm_backward): the CPU reference of
// the cuDNN implementation, and the fast path of nn::functional::batch_norm on the CPU. Direct
// loops over x [N, C, S...] seen as N * C runs of S values (contiguous) or N * S rows of C values
// (channels-last, and [N, C]); any other layout is copied to a contiguous one first. Statistics
// are accumulated in double (see batch_stats), so float32 sums over large batches and float64
// inputs with |mean| >> std stay accurate; the per-element arithmetic is in float (double for
// float64), as the composite's.
#include "ops/batch_norm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "cpu/batch_norm_avx512.h"
#include "cpu/dispatch.h"
#include "cpu/isa.h"
#include "cpu/kernels.h"
#include "kiln/memory_format.h"

namespace kiln::cpu {
namespace {

// Below this many elements one thread does the work: waking the OpenMP team costs more.
constexpr int64_t kParallelGrain = int64_t(1) << 15;
// Statistics are summed in at most this many chunks (fixed by the shape, never by the number of
// threads) whose partial sums are added in order: they are bit-identical whatever the thread
// count.
constexpr int64_t kMaxChunks = 64;
constexpr int64_t kMinRowsPerChunk = 16;

// x [N, C, S...] as the loops see it. Channel walk (contiguous with spatial positions): channel
// c of sample i is the run of s values at (i * c + ch) * s. Row walk (channels-last, or no
// spatial dims): position r = i * s + j is the row of c values at r * c.
struct Geometry {
  int64_t n = 0, c = 0, s = 1;
  MemoryFormat format = MemoryFormat::Contiguous;
  bool row_walk = false;
  int64_t count() const { return n * s; }  // values per channel
  int64_t numel() const { return n * c * s; }
  int64_t rows() const { return n * s; }
};

Geometry geometry_of(const Tensor& x) {
  Geometry g;
  g.n = x.size(0);
  g.c = x.size(1);
  for (int64_t d = 2; d < x.dim(); ++d) g.s *= x.size(d);
  g.format = suggest_memory_format(x);
  g.row_walk = g.format != MemoryFormat::Contiguous || g.s == 1;
  return g;
}

// `t` laid out densely in `format` (itself, or a copy).
Tensor dense(const Tensor& t, MemoryFormat format) {
  if (is_contiguous(t, format)) return t;
  Tensor d = empty(t.shape(), TensorOptions(t.dtype(), t.device()), format);
  copy(t, d);
  return d;
}
// Where to write a result meant for `out`: out itself when it is dense in `format`, else a
// scratch tensor that finish_output copies into out.
Tensor output_buffer(const Tensor& out, MemoryFormat format) {
  if (is_contiguous(out, format)) return out;
  return empty(out.shape(), TensorOptions(out.dtype(), out.device()), format);
}
void finish_output(const Tensor& buffer, const Tensor& out) {
  if (!buffer.is_same(out)) copy(buffer, out);
}

template <class T>
using stat_t = acc_t<T>;  // float for float32/bfloat16/float16, double for float64

template <class T>
stat_t<T> load(T v) {
  return static_cast<stat_t<T>>(v);
}

// The per-channel tensors' contract: [C] elements, contiguous, of the statistics dtype.
void check_channel(const char* op, const Tensor& t, const char* what, int64_t c, DType dtype) {
  if (!t.defined()) return;
  KILN_CHECK(t.numel() == c && t.is_contiguous() && t.dtype() == dtype, op, ": ", what,
             " must be a contiguous ", dtype_name(dtype), " tensor of ", c, " elements, got shape ",
             shape_str(t.shape()), " ", dtype_name(t.dtype()));
}

template <class S>
S* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<S>() : nullptr;
}

// y = (x - mean[c]) * scale[c] + shift[c] over every element.
template <class T>
void normalise(const Geometry& g, const T* x, T* y, const std::vector<stat_t<T>>& mean,
               const std::vector<stat_t<T>>& scale, const std::vector<stat_t<T>>& shift) {
  using S = stat_t<T>;
  const int64_t c = g.c, s = g.s;
  if (g.row_walk) {
    const S* m = mean.data();
    const S* a = scale.data();
    const S* b = shift.data();
#pragma omp parallel for if (g.numel() >= kParallelGrain) schedule(static)
    for (int64_t r = 0; r < g.rows(); ++r) {
      const T* xr = x + r * c;
      T* yr = y + r * c;
#pragma omp simd
      for (int64_t ch = 0; ch < c; ++ch) yr[ch] = T((load(xr[ch]) - m[ch]) * a[ch] + b[ch]);
    }
    return;
  }
#pragma omp parallel for collapse(2) if (g.numel() >= kParallelGrain) schedule(static)
  for (int64_t i = 0; i < g.n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const T* xr = x + (i * c + ch) * s;
      T* yr = y + (i * c + ch) * s;
      const S m = mean[size_t(ch)], a = scale[size_t(ch)], b = shift[size_t(ch)];
#pragma omp simd
      for (int64_t j = 0; j < s; ++j) yr[j] = T((load(xr[j]) - m) * a + b);
    }
  }
}

// `units` split into at most kMaxChunks chunks of at least `min_per_chunk` (the last may be
// shorter), fixed by the shape alone.
struct Chunks {
  int64_t count = 1, per_chunk = 1;
};
Chunks chunks_of(int64_t units, int64_t min_per_chunk) {
  Chunks k;
  k.count = std::clamp<int64_t>(units / min_per_chunk, 1, kMaxChunks);
  k.per_chunk = (units + k.count - 1) / k.count;
  return k;
}

// Sums over j < len of f(j) (kSums of them, f returning std::array<double, kSums>), each in
// eight interleaved partial sums: independent add chains that pipeline (a single chain waits on
// every add's latency), combined in a fixed order, so the result is the same on every run.
template <size_t kSums, class F>
std::array<double, kSums> run_sums(int64_t len, F f) {
  constexpr int kLanes = 8;
  double acc[kSums][kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= len; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const std::array<double, kSums> v = f(j + l);
      for (size_t k = 0; k < kSums; ++k) acc[k][l] += v[k];
    }
  }
  for (int l = 0; j < len; ++j, ++l) {
    const std::array<double, kSums> v = f(j);
    for (size_t k = 0; k < kSums; ++k) acc[k][l] += v[k];
  }
  std::array<double, kSums> total{};
  for (size_t k = 0; k < kSums; ++k) {
    const double* a = acc[k];
    total[k] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  }
  return total;
}

// Per-channel sums: kSums sums of f(ch, offset) over the element offsets of each channel (f
// returns std::array<double, kSums>). Both walks go through memory in order, a row of channels
// or a whole sample at a time (the hardware prefetcher streams them; one channel at a time would
// restart it at every run of s values), in chunks fixed by the shape whose partial sums are
// added in order: the result never depends on the threads.
//
// `run(ch, base, len)`, when given, sums a whole run of s values of channel ch starting at
// offset base in one call (the AVX-512 kernels); otherwise run_sums over f does.
template <size_t kSums, class F, class Run = std::nullptr_t>
std::array<std::vector<double>, kSums> channel_sums(const Geometry& g, F f, Run run = nullptr) {
  const int64_t c = g.c, s = g.s;
  const int64_t units = g.row_walk ? g.rows() : g.n;
  const Chunks k = chunks_of(units, g.row_walk ? kMinRowsPerChunk : 1);
  std::vector<double> part(size_t(k.count * c) * kSums, 0.0);  // [chunk][sum][channel]
#pragma omp parallel for if (g.numel() >= kParallelGrain) schedule(static)
  for (int64_t q = 0; q < k.count; ++q) {
    double* acc = part.data() + q * c * int64_t(kSums);
    const int64_t end = std::min(units, (q + 1) * k.per_chunk);
    for (int64_t u = q * k.per_chunk; u < end; ++u) {
      if (g.row_walk) {
#pragma omp simd
        for (int64_t ch = 0; ch < c; ++ch) {
          const std::array<double, kSums> v = f(ch, u * c + ch);
          for (size_t m = 0; m < kSums; ++m) acc[int64_t(m) * c + ch] += v[m];
        }
        continue;
      }
      for (int64_t ch = 0; ch < c; ++ch) {
        const int64_t base = (u * c + ch) * s;
        std::array<double, kSums> r;
        if constexpr (std::is_same_v<Run, std::nullptr_t>)
          r = run_sums<kSums>(s, [&](int64_t j) { return f(ch, base + j); });
        else
          r = run(ch, base, s);
        for (size_t m = 0; m < kSums; ++m) acc[int64_t(m) * c + ch] += r[m];
      }
    }
  }
  std::array<std::vector<double>, kSums> sums;
  for (auto& v : sums) v.assign(size_t(c), 0.0);
  for (int64_t q = 0; q < k.count; ++q)
    for (size_t m = 0; m < kSums; ++m)
      for (int64_t ch = 0; ch < c; ++ch)
        sums[m][size_t(ch)] += part[size_t((q * int64_t(kSums) + int64_t(m)) * c + ch)];
  return sums;
}

// Per-channel mean and sum of squared deviations (M2). float64: two passes, the second over
// x - mean. Narrower types: one pass of sum and sum of squares in double (one read of x instead
// of two); a float's square is exact in double, so M2 = sum(x^2) - sum(x)^2 / n loses at most
// n * 2^-53 * mean^2 / var relatively: 1e-5 at |mean| = 1000 std over 10^5 values, whose float32
// inputs are themselves only known to 1000 * 2^-24 = 6e-5 std.
template <class T>
void batch_stats(const Geometry& g, const T* x, std::vector<double>& mean,
                 std::vector<double>& m2) {
  const double n = double(g.count());
  if constexpr (std::is_same_v<T, double>) {
    mean = channel_sums<1>(g, [x](int64_t, int64_t o) { return std::array<double, 1>{x[o]}; })[0];
    for (double& m : mean) m /= n;
    const double* mp = mean.data();
    m2 = channel_sums<1>(g, [x, mp](int64_t ch, int64_t o) {
      const double d = x[o] - mp[ch];
      return std::array<double, 1>{d * d};
    })[0];
  } else {
    auto each = [x](int64_t, int64_t o) {
      const double v = double(load(x[o]));
      return std::array<double, 2>{v, v * v};
    };
    auto sums = [&] {
      if constexpr (std::is_same_v<T, float>) {
        if (avx512_enabled())
          return channel_sums<2>(g, each, [x](int64_t, int64_t base, int64_t len) {
            return sum_and_squares_avx512(x + base, len);
          });
      }
      return channel_sums<2>(g, each);
    }();
    mean = std::move(sums[0]);
    m2 = std::move(sums[1]);
    for (size_t ch = 0; ch < mean.size(); ++ch) {
      const double sum = mean[ch];
      mean[ch] = sum / n;
      m2[ch] = std::max(0.0, m2[ch] - sum * mean[ch]);  // rounding must not make it negative
    }
  }
}

// dx = (dy - mean_dy[c] - (x - mean[c]) * k[c]) * a[c] over every element.
template <class T>
void input_grad(const Geometry& g, const T* x, const T* dy, T* dx,
                const std::vector<stat_t<T>>& mean, const std::vector<stat_t<T>>& mean_dy,
                const std::vector<stat_t<T>>& k, const std::vector<stat_t<T>>& a) {
  using S = stat_t<T>;
  const int64_t c = g.c, s = g.s;
  if (g.row_walk) {
    const S* m = mean.data();
    const S* md = mean_dy.data();
    const S* kk = k.data();
    const S* aa = a.data();
#pragma omp parallel for if (g.numel() >= kParallelGrain) schedule(static)
    for (int64_t r = 0; r < g.rows(); ++r) {
      const T* xr = x + r * c;
      const T* dr = dy + r * c;
      T* out = dx + r * c;
#pragma omp simd
      for (int64_t ch = 0; ch < c; ++ch)
        out[ch] = T((load(dr[ch]) - md[ch] - (load(xr[ch]) - m[ch]) * kk[ch]) * aa[ch]);
    }
    return;
  }
#pragma omp parallel for collapse(2) if (g.numel() >= kParallelGrain) schedule(static)
  for (int64_t i = 0; i < g.n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t base = (i * c + ch) * s;
      const S m = mean[size_t(ch)], md = mean_dy[size_t(ch)], kk = k[size_t(ch)];
      const S aa = a[size_t(ch)];
#pragma omp simd
      for (int64_t j = 0; j < s; ++j)
        dx[base + j] = T((load(dy[base + j]) - md - (load(x[base + j]) - m) * kk) * aa);
    }
  }
}

template <class T>
void forward_impl(const Geometry& g, const T* x, T* y, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, const BatchNormArgs& args,
                  const Tensor& save_mean, const Tensor& save_invstd) {
  using S = stat_t<T>;
  const size_t c = size_t(g.c);
  const S* w = ptr_or_null<S>(weight);
  const S* b = ptr_or_null<S>(bias);
  S* rm = ptr_or_null<S>(running_mean);
  S* rv = ptr_or_null<S>(running_var);
  std::vector<S> mean(c), scale(c), shift(c);
  if (!args.training) {
    for (size_t ch = 0; ch < c; ++ch) {
      const double invstd = 1.0 / std::sqrt(double(rv[ch]) + args.eps);
      mean[ch] = rm[ch];
      scale[ch] = S(invstd * (w ? double(w[ch]) : 1.0));
      shift[ch] = b ? b[ch] : S(0);
    }
    normalise(g, x, y, mean, scale, shift);
    return;
  }
  const double n = double(g.count());
  std::vector<double> mu, m2;
  batch_stats(g, x, mu, m2);
  S* sm = save_mean.data<S>();
  S* si = save_invstd.data<S>();
  const double m = args.momentum;
  for (size_t ch = 0; ch < c; ++ch) {
    const double var = m2[ch] / n;  // biased: what normalises
    const double invstd = 1.0 / std::sqrt(var + args.eps);
    sm[ch] = S(mu[ch]);
    si[ch] = S(invstd);
    mean[ch] = S(mu[ch]);
    scale[ch] = S(invstd * (w ? double(w[ch]) : 1.0));
    shift[ch] = b ? b[ch] : S(0);
    // The running variance takes the unbiased variance, as torch's (the biased one for a single
    // value per channel, as the composite; the op rejects that case in training).
    if (rm) rm[ch] = S((1.0 - m) * double(rm[ch]) + m * mu[ch]);
    if (rv) rv[ch] = S((1.0 - m) * double(rv[ch]) + m * (n > 1 ? m2[ch] / (n - 1) : var));
  }
  normalise(g, x, y, mean, scale, shift);
}

template <class T>
void backward_impl(const Geometry& g, const T* x, const T* dy, T* dx, const Tensor& weight,
                   const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dweight,
                   const Tensor& dbias) {
  using S = stat_t<T>;
  const size_t c = size_t(g.c);
  const S* w = ptr_or_null<S>(weight);
  const S* sm = save_mean.data<S>();
  const S* si = save_invstd.data<S>();
  std::vector<double> mean(c);
  for (size_t ch = 0; ch < c; ++ch) mean[ch] = double(sm[ch]);
  // Per channel: sum(dy) and sum(dy * (x - mean)), in one pass over x and dy.
  const double* mp = mean.data();
  auto each = [x, dy, mp](int64_t ch, int64_t o) {
    const double d = double(load(dy[o]));
    return std::array<double, 2>{d, d * (double(load(x[o])) - mp[ch])};
  };
  const auto [sum_dy, sum_dy_xmu] = [&] {
    if constexpr (std::is_same_v<T, float>) {
      if (avx512_enabled())
        return channel_sums<2>(g, each, [x, dy, mp](int64_t ch, int64_t base, int64_t len) {
          return sum_and_centered_dot_avx512(dy + base, x + base, mp[ch], len);
        });
    }
    return channel_sums<2>(g, each);
  }();
  S* dw = ptr_or_null<S>(dweight);
  S* db = ptr_or_null<S>(dbias);
  const double n = double(g.count());
  std::vector<S> mean_s(c), mean_dy(c), k(c), a(c);
  for (size_t ch = 0; ch < c; ++ch) {
    const double invstd = double(si[ch]);
    // d/dx of (x - mean) * invstd with the batch mean and variance depending on x:
    // dx = (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy * (x - mean))) * invstd * w.
    mean_s[ch] = sm[ch];
    mean_dy[ch] = S(sum_dy[ch] / n);
    k[ch] = S(invstd * invstd * sum_dy_xmu[ch] / n);
    a[ch] = S(invstd * (w ? double(w[ch]) : 1.0));
    if (dw) dw[ch] = S(sum_dy_xmu[ch] * invstd);
    if (db) db[ch] = S(sum_dy[ch]);
  }
  if (dx) input_grad(g, x, dy, dx, mean_s, mean_dy, k, a);
}

}  // namespace

void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Tensor& running_mean, const Tensor& running_var,
                        const BatchNormArgs& args, const Tensor& y, const Tensor& save_mean,
                        const Tensor& save_invstd) {
  const char* op = "batch_norm";
  KILN_CHECK(x.dim() >= 2 && y.shape() == x.shape() && y.dtype() == x.dtype(), op,
             ": expected x [N, C, *] and y of its shape and dtype, got ", shape_str(x.shape()), " ",
             dtype_name(x.dtype()), " and ", shape_str(y.shape()), " ", dtype_name(y.dtype()));
  const Geometry g = geometry_of(x);
  const DType sd = batch_norm_stats_dtype(x.dtype());
  for (const auto& [t, what] : {std::pair<const Tensor&, const char*>{weight, "weight"},
                                {bias, "bias"},
                                {running_mean, "running_mean"},
                                {running_var, "running_var"},
                                {save_mean, "save_mean"},
                                {save_invstd, "save_invstd"}})
    check_channel(op, t, what, g.c, sd);
  if (args.training) {
    KILN_CHECK(save_mean.defined() && save_invstd.defined(), op,
               ": training needs save_mean and save_invstd");
  } else {
    KILN_CHECK(running_mean.defined() && running_var.defined(), op,
               ": evaluation needs running_mean and running_var");
  }
  if (g.numel() == 0 && !args.training) return;
  const Tensor xd = dense(x, g.format);
  const Tensor yd = output_buffer(y, g.format);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    forward_impl<T>(g, xd.data<T>(), yd.data<T>(), weight, bias, running_mean, running_var, args,
                    save_mean, save_invstd);
  });
  finish_output(yd, y);
}

void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& weight,
                         const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                         const Tensor& dweight, const Tensor& dbias) {
  const char* op = "batch_norm_backward";
  KILN_CHECK(x.dim() >= 2 && dy.shape() == x.shape() && dy.dtype() == x.dtype() &&
                 (!dx.defined() || (dx.shape() == x.shape() && dx.dtype() == x.dtype())),
             op, ": expected x [N, C, *] and dy, dx of its shape and dtype, got x ",
             shape_str(x.shape()), " ", dtype_name(x.dtype()), ", dy ", shape_str(dy.shape()), " ",
             dtype_name(dy.dtype()));
  const Geometry g = geometry_of(x);
  const DType sd = batch_norm_stats_dtype(x.dtype());
  KILN_CHECK(save_mean.defined() && save_invstd.defined(), op,
             ": needs the save_mean and save_invstd of the training forward");
  for (const auto& [t, what] : {std::pair<const Tensor&, const char*>{weight, "weight"},
                                {save_mean, "save_mean"},
                                {save_invstd, "save_invstd"},
                                {dweight, "dweight"},
                                {dbias, "dbias"}})
    check_channel(op, t, what, g.c, sd);
  const Tensor xd = dense(x, g.format);
  const Tensor dyd = dense(dy, g.format);
  const Tensor dxd = dx.defined() ? output_buffer(dx, g.format) : Tensor();
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    backward_impl<T>(g, xd.data<T>(), dyd.data<T>(), dxd.defined() ? dxd.data<T>() : nullptr,
                     weight, save_mean, save_invstd, dweight, dbias);
  });
  if (dx.defined()) finish_output(dxd, dx);
}

}  // namespace kiln::cpu
