// Kiln's own batch normalisation kernels (see batch_norm.h for when they run and what they
// promise).
//
// x is walked as [outer, C, inner]: element (o, c, i) at (o * C + c) * inner + i. A contiguous
// x [N, C, S...] is outer = N, inner = S; a channels-last one (and [N, C]) is outer = N * S,
// inner = 1, the "row" walk. Other layouts are copied to a contiguous tensor first, and a result
// that is not dense in x's layout is written through a dense scratch tensor.
//
// Per-channel sums (two doubles at a time) are split into chunks fixed by the shape: the row
// kernel gives a block 32 channels x (8 lanes of rows), the channel kernel one channel and a
// range of its values; each block writes its partial sums, and one thread per channel adds the
// chunks' partials in order. So results depend only on the shape, never on the device.
#include <algorithm>
#include <memory>

#include "common/dtype.cuh"
#include "common/launch.cuh"
#include "core/tensor_impl.h"
#include "cudnn/layout.h"
#include "kernels/batch_norm.h"
#include "kernels/kernels.h"
#include "kernels/math.cuh"
#include "kernels/reduce_util.cuh"
#include "kiln/ops.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

using cudnn::Layout;

struct Sums {
  double a, b;
};
__device__ __forceinline__ Sums operator+(Sums p, Sums q) { return Sums{p.a + q.a, p.b + q.b}; }

template <class T>
__device__ __forceinline__ double load_d(T v) {
  return double(convert<acc_t<T>>(v));
}

struct Geometry {
  int64_t outer = 0, c = 0, inner = 1;
  int64_t count() const { return outer * inner; }  // values per channel
  int64_t numel() const { return outer * c * inner; }
  bool rows() const { return inner == 1; }
};

Geometry geometry_of(const Tensor& x, Layout layout) {
  int64_t s = 1;
  for (int64_t d = 2; d < x.dim(); ++d) s *= x.size(d);
  Geometry g;
  g.c = x.size(1);
  if (layout == Layout::NHWC) {
    g.outer = x.size(0) * s;
    g.inner = 1;
  } else {
    g.outer = x.size(0);
    g.inner = s;
  }
  return g;
}

bool dense_in(const Tensor& t, Layout layout) {
  return cudnn::is_dense(t.shape(), t.strides(), layout);
}

// x's layout: contiguous when it is (also when it is both), else channels-last when it is
// that, else contiguous through a copy.
Layout layout_of(const Tensor& x) {
  if (dense_in(x, Layout::NCHW)) return Layout::NCHW;
  return dense_in(x, Layout::NHWC) ? Layout::NHWC : Layout::NCHW;
}

// An uninitialised tensor shaped like `like`, dense in `layout`.
Tensor empty_dense(const Tensor& like, Layout layout) {
  const Shape& shape = like.shape();
  std::vector<size_t> order{0};
  if (layout == Layout::NCHW) order.push_back(1);
  for (size_t d = 2; d < shape.size(); ++d) order.push_back(d);
  if (layout == Layout::NHWC) order.push_back(1);
  Shape strides(shape.size(), 1);
  int64_t z = 1;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    strides[*it] = z;
    z *= std::max<int64_t>(shape[*it], 1);
  }
  Tensor flat = kiln::empty({like.numel()}, TensorOptions(like.dtype(), like.device()));
  return make_view(flat, shape, strides, 0);
}

Tensor dense_input(const Tensor& t, Layout layout) {
  if (dense_in(t, layout)) return t;
  Tensor d = empty_dense(t, layout);
  cuda::copy(t, d);
  return d;
}

Tensor output_buffer(const Tensor& t, Layout layout) {
  return dense_in(t, layout) ? t : empty_dense(t, layout);
}

// ---- per-channel sums ----

constexpr int kThreads = 256;
constexpr int kTileChannels = 32;                    // row kernel: channels per block
constexpr int kRowLanes = kThreads / kTileChannels;  // row kernel: rows in flight per channel
constexpr int64_t kMaxChunks = 1024;

// Sums of f(channel, offset) over rows [chunk * per, (chunk + 1) * per) of a row-walk x.
template <class F>
__global__ void __launch_bounds__(kThreads)
    row_sums_kernel(F f, int64_t rows, int64_t c, int64_t per, Sums* __restrict__ partial) {
  __shared__ Sums smem[kRowLanes][kTileChannels];
  const int tx = int(threadIdx.x) % kTileChannels, ty = int(threadIdx.x) / kTileChannels;
  const int64_t ch = int64_t(blockIdx.x) * kTileChannels + tx;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * per, r1 = std::min(rows, r0 + per);
  Sums acc{0.0, 0.0};
  if (ch < c) {
    for (int64_t r = r0 + ty; r < r1; r += kRowLanes) acc = acc + f(ch, r * c + ch);
  }
  smem[ty][tx] = acc;
  __syncthreads();
  if (ty == 0 && ch < c) {
    Sums t = smem[0][tx];
    for (int k = 1; k < kRowLanes; ++k) t = t + smem[k][tx];
    partial[chunk * c + ch] = t;
  }
}

// Sums of f(channel, offset) over values [chunk * per, (chunk + 1) * per) of channel
// blockIdx.x, value m being (o, i) = (m / inner, m % inner).
template <class F>
__global__ void __launch_bounds__(kThreads)
    channel_sums_kernel(F f, int64_t outer, int64_t c, int64_t inner, int64_t per,
                        Sums* __restrict__ partial) {
  __shared__ Sums smem[kThreads];
  const int64_t ch = blockIdx.x, chunk = blockIdx.y;
  const int64_t m0 = chunk * per, m1 = std::min(outer * inner, m0 + per);
  Sums acc{0.0, 0.0};
  for (int64_t m = m0 + threadIdx.x; m < m1; m += kThreads) {
    const int64_t o = m / inner, i = m - o * inner;
    acc = acc + f(ch, (o * c + ch) * inner + i);
  }
  const int t = int(threadIdx.x);
  smem[t] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (t < s) smem[t] = smem[t] + smem[t + s];
    __syncthreads();
  }
  if (t == 0) partial[chunk * c + ch] = smem[0];
}

// Chunks per channel: fixed by the shape (a few thousand blocks for large tensors).
int64_t chunks_of(const Geometry& g) {
  const int64_t per_block = g.rows() ? 256 : 4096;
  return std::clamp<int64_t>((g.count() + per_block - 1) / per_block, 1, kMaxChunks);
}

template <class F>
void launch_sums(const Geometry& g, const F& f, Sums* partial, int64_t chunks,
                 cudaStream_t stream) {
  const int64_t per = (g.count() + chunks - 1) / chunks;
  if (g.rows()) {
    const dim3 grid(unsigned((g.c + kTileChannels - 1) / kTileChannels), unsigned(chunks));
    row_sums_kernel<<<grid, kThreads, 0, stream>>>(f, g.count(), g.c, per, partial);
  } else {
    const dim3 grid(unsigned(g.c), unsigned(chunks));
    channel_sums_kernel<<<grid, kThreads, 0, stream>>>(f, g.outer, g.c, g.inner, per, partial);
  }
  KILN_CUDA_CHECK_LAUNCH("batch_norm");
}

template <class T>
struct SumX {
  const T* x;
  __device__ Sums operator()(int64_t, int64_t off) const { return Sums{load_d(x[off]), 0.0}; }
};

template <class T>
struct CentredSquares {
  const T* x;
  const double* mean;
  __device__ Sums operator()(int64_t ch, int64_t off) const {
    const double d = load_d(x[off]) - mean[ch];
    return Sums{d * d, 0.0};
  }
};

// sum(dy) and sum(dy * (x - mean)).
template <class T, class S>
struct GradSums {
  const T* x;
  const T* dy;
  const S* mean;
  __device__ Sums operator()(int64_t ch, int64_t off) const {
    const double d = load_d(dy[off]);
    return Sums{d, d * (load_d(x[off]) - double(mean[ch]))};
  }
};

// ---- per-channel finishing (one thread per channel), the CPU's formulas and roundings ----

__device__ __forceinline__ Sums total(const Sums* partial, int64_t chunks, int64_t c, int64_t ch) {
  Sums s{0.0, 0.0};
  for (int64_t k = 0; k < chunks; ++k) s = s + partial[k * c + ch];
  return s;
}

struct MeanFinish {
  const Sums* partial;
  int64_t chunks, c;
  double n;
  double* mean;
  __device__ void operator()(int64_t ch) const {
    mean[ch] = __ddiv_rn(total(partial, chunks, c, ch).a, n);
  }
};

// params [3, C]: mean, scale, shift of y = (x - mean) * scale + shift.
template <class S>
struct TrainFinish {
  const Sums* partial;
  int64_t chunks, c;
  double n, eps, momentum;
  const double* mean;
  const S* w;
  const S* b;
  S* rm;
  S* rv;
  S* save_mean;
  S* save_invstd;
  S* params;
  __device__ void operator()(int64_t ch) const {
    const double m2 = total(partial, chunks, c, ch).a, mu = mean[ch];
    const double var = __ddiv_rn(m2, n);  // biased: what normalises
    const double invstd = __ddiv_rn(1.0, ::sqrt(__dadd_rn(var, eps)));
    save_mean[ch] = S(mu);
    save_invstd[ch] = S(invstd);
    params[ch] = S(mu);
    params[c + ch] = S(__dmul_rn(invstd, w != nullptr ? double(w[ch]) : 1.0));
    params[2 * c + ch] = b != nullptr ? b[ch] : S(0);
    const double keep = __dadd_rn(1.0, -momentum);
    if (rm != nullptr)
      rm[ch] = S(__dadd_rn(__dmul_rn(keep, double(rm[ch])), __dmul_rn(momentum, mu)));
    if (rv != nullptr) {
      const double unbiased = n > 1 ? __ddiv_rn(m2, __dadd_rn(n, -1.0)) : var;
      rv[ch] = S(__dadd_rn(__dmul_rn(keep, double(rv[ch])), __dmul_rn(momentum, unbiased)));
    }
  }
};

template <class S>
struct EvalFinish {
  const S* rm;
  const S* rv;
  const S* w;
  const S* b;
  double eps;
  int64_t c;
  S* params;
  __device__ void operator()(int64_t ch) const {
    const double invstd = __ddiv_rn(1.0, ::sqrt(__dadd_rn(double(rv[ch]), eps)));
    params[ch] = rm[ch];
    params[c + ch] = S(__dmul_rn(invstd, w != nullptr ? double(w[ch]) : 1.0));
    params[2 * c + ch] = b != nullptr ? b[ch] : S(0);
  }
};

// params [4, C]: mean, mean(dy), k, a of dx = (dy - mean(dy) - (x - mean) * k) * a.
template <class S>
struct GradFinish {
  const Sums* partial;
  int64_t chunks, c;
  double n;
  const S* save_mean;
  const S* save_invstd;
  const S* w;
  S* dw;
  S* db;
  S* params;
  __device__ void operator()(int64_t ch) const {
    const Sums s = total(partial, chunks, c, ch);
    const double invstd = double(save_invstd[ch]);
    params[ch] = save_mean[ch];
    params[c + ch] = S(__ddiv_rn(s.a, n));
    params[2 * c + ch] = S(__ddiv_rn(__dmul_rn(__dmul_rn(invstd, invstd), s.b), n));
    params[3 * c + ch] = S(__dmul_rn(invstd, w != nullptr ? double(w[ch]) : 1.0));
    if (dw != nullptr) dw[ch] = S(__dmul_rn(s.b, invstd));
    if (db != nullptr) db[ch] = S(s.a);
  }
};

// ---- elementwise ----

template <bool Rows>
__device__ __forceinline__ int64_t channel_of(int64_t e, int64_t c, int64_t inner) {
  if constexpr (Rows)
    return e % c;
  else
    return (e / inner) % c;
}

template <class T, bool Rows>
struct Normalise {
  using S = acc_t<T>;
  const T* x;
  T* y;
  const S* params;
  int64_t c, inner;
  __device__ void operator()(int64_t e) const {
    const int64_t ch = channel_of<Rows>(e, c, inner);
    const S v = convert<S>(x[e]) - params[ch];
    y[e] = convert<T>(math::add_rn(math::mul_rn(v, params[c + ch]), params[2 * c + ch]));
  }
};

template <class T, bool Rows>
struct InputGrad {
  using S = acc_t<T>;
  const T* x;
  const T* dy;
  T* dx;
  const S* params;
  int64_t c, inner;
  __device__ void operator()(int64_t e) const {
    const int64_t ch = channel_of<Rows>(e, c, inner);
    const S centred = math::mul_rn(convert<S>(x[e]) - params[ch], params[2 * c + ch]);
    const S v = convert<S>(dy[e]) - params[c + ch] - centred;
    dx[e] = convert<T>(math::mul_rn(v, params[3 * c + ch]));
  }
};

template <class T>
void launch_normalise(const Geometry& g, const T* x, T* y, const acc_t<T>* params,
                      cudaStream_t stream) {
  if (g.rows())
    launch_elementwise("batch_norm", g.numel(), stream,
                       Normalise<T, true>{x, y, params, g.c, g.inner});
  else
    launch_elementwise("batch_norm", g.numel(), stream,
                       Normalise<T, false>{x, y, params, g.c, g.inner});
}

template <class S>
const S* ptr_or_null(const Tensor& t) {
  return t.defined() ? static_cast<const S*>(t.data_ptr()) : nullptr;
}
template <class S>
S* mut_ptr_or_null(const Tensor& t) {
  return t.defined() ? static_cast<S*>(t.data_ptr()) : nullptr;
}

template <class T>
void forward_impl(const Geometry& g, const T* x, T* y, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, const BatchNormArgs& args,
                  const Tensor& save_mean, const Tensor& save_invstd, int device,
                  cudaStream_t stream) {
  using S = acc_t<T>;
  const int64_t c = g.c;
  ScratchBuffer params(size_t(3 * c) * sizeof(S), device, "batch_norm");
  S* p = static_cast<S*>(params.get());
  if (!args.training) {
    launch_elementwise("batch_norm", c, stream,
                       EvalFinish<S>{ptr_or_null<S>(running_mean), ptr_or_null<S>(running_var),
                                     ptr_or_null<S>(weight), ptr_or_null<S>(bias), args.eps, c, p});
    launch_normalise<T>(g, x, y, p, stream);
    return;
  }
  const int64_t chunks = chunks_of(g);
  ScratchBuffer partial(size_t(chunks * c) * sizeof(Sums), device, "batch_norm");
  ScratchBuffer mean(size_t(c) * sizeof(double), device, "batch_norm");
  Sums* part = static_cast<Sums*>(partial.get());
  double* mu = static_cast<double*>(mean.get());
  const double n = double(g.count());
  launch_sums(g, SumX<T>{x}, part, chunks, stream);
  launch_elementwise("batch_norm", c, stream, MeanFinish{part, chunks, c, n, mu});
  launch_sums(g, CentredSquares<T>{x, mu}, part, chunks, stream);
  launch_elementwise(
      "batch_norm", c, stream,
      TrainFinish<S>{part, chunks, c, n, args.eps, args.momentum, mu, ptr_or_null<S>(weight),
                     ptr_or_null<S>(bias), mut_ptr_or_null<S>(running_mean),
                     mut_ptr_or_null<S>(running_var), mut_ptr_or_null<S>(save_mean),
                     mut_ptr_or_null<S>(save_invstd), p});
  launch_normalise<T>(g, x, y, p, stream);
}

template <class T>
void backward_impl(const Geometry& g, const T* x, const T* dy, T* dx, const Tensor& weight,
                   const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dweight,
                   const Tensor& dbias, int device, cudaStream_t stream) {
  using S = acc_t<T>;
  const int64_t c = g.c;
  const int64_t chunks = chunks_of(g);
  ScratchBuffer partial(size_t(chunks * c) * sizeof(Sums), device, "batch_norm_backward");
  ScratchBuffer params(size_t(4 * c) * sizeof(S), device, "batch_norm_backward");
  Sums* part = static_cast<Sums*>(partial.get());
  S* p = static_cast<S*>(params.get());
  launch_sums(g, GradSums<T, S>{x, dy, ptr_or_null<S>(save_mean)}, part, chunks, stream);
  launch_elementwise("batch_norm_backward", c, stream,
                     GradFinish<S>{part, chunks, c, double(g.count()), ptr_or_null<S>(save_mean),
                                   ptr_or_null<S>(save_invstd), ptr_or_null<S>(weight),
                                   mut_ptr_or_null<S>(dweight), mut_ptr_or_null<S>(dbias), p});
  if (dx == nullptr) return;
  if (g.rows())
    launch_elementwise("batch_norm_backward", g.numel(), stream,
                       InputGrad<T, true>{x, dy, dx, p, g.c, g.inner});
  else
    launch_elementwise("batch_norm_backward", g.numel(), stream,
                       InputGrad<T, false>{x, dy, dx, p, g.c, g.inner});
}

}  // namespace

void batch_norm_forward_native(const Tensor& x, const Tensor& weight, const Tensor& bias,
                               const Tensor& running_mean, const Tensor& running_var,
                               const BatchNormArgs& args, const Tensor& y, const Tensor& save_mean,
                               const Tensor& save_invstd) {
  if (x.size(1) == 0 || (x.numel() == 0 && !args.training)) return;
  const int device = x.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  const Layout layout = layout_of(x);
  const Tensor xd = dense_input(x, layout);
  const Tensor yd = output_buffer(y, layout);
  const Geometry g = geometry_of(x, layout);
  dispatch_floating(x.dtype(), "batch_norm", [&]<class T>() {
    forward_impl<T>(g, static_cast<const T*>(xd.data_ptr()), static_cast<T*>(yd.data_ptr()), weight,
                    bias, running_mean, running_var, args, save_mean, save_invstd, device, stream);
  });
  if (!yd.is_same(y)) cuda::copy(yd, y);
}

void batch_norm_backward_native(const Tensor& x, const Tensor& dy, const Tensor& weight,
                                const Tensor& save_mean, const Tensor& save_invstd,
                                const Tensor& dx, const Tensor& dweight, const Tensor& dbias) {
  if (x.size(1) == 0) return;
  const int device = x.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  const Layout layout = layout_of(x);
  const Tensor xd = dense_input(x, layout);
  const Tensor dyd = dense_input(dy, layout);
  const Tensor dxd = dx.defined() ? output_buffer(dx, layout) : Tensor();
  const Geometry g = geometry_of(x, layout);
  dispatch_floating(x.dtype(), "batch_norm_backward", [&]<class T>() {
    backward_impl<T>(g, static_cast<const T*>(xd.data_ptr()), static_cast<const T*>(dyd.data_ptr()),
                     dxd.defined() ? static_cast<T*>(dxd.data_ptr()) : nullptr, weight, save_mean,
                     save_invstd, dweight, dbias, device, stream);
  });
  if (dx.defined() && !dxd.is_same(dx)) cuda::copy(dxd, dx);
}

}  // namespace kiln::cuda
