// cuDNN convolution and batch norm (cuda/cudnn/) against the CPU kernels (src/cpu/conv.cpp,
// src/cpu/batch_norm.cpp), through the Backend interface and through the public ops; and, on
// the CPU in every build, the host logic that maps tensors onto cuDNN's descriptors
// (cuda/cudnn/layout.h).
//
// The oracle is the CPU kernel on float64 copies of the very same inputs. Tolerances: float64
// 1e-10; float32 (TF32 off) 1e-4; float16 2e-2 and bfloat16 6e-2 (one rounding of the result
// and float32 accumulation). GPU tests skip with a visible message when there is no GPU.
#include <cmath>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "cudnn/layout.h"
#include "kiln/cuda.h"
#include "kiln/memory_format.h"
#include "test_util.h"
#if defined(KILN_WITH_CUDA)
#include "cudnn/batch_norm.h"
#include "cudnn/conv.h"
#endif

namespace kiln::testing {
namespace {

using cuda::cudnn::ConvKey;
using cuda::cudnn::ConvProblem;
using cuda::cudnn::Layout;
using cuda::cudnn::TensorDims;

// ---------------- host logic (runs everywhere) ----------------

TEST(CudnnLayout, ConvDimsInsertTheUnitHeightFor1d) {
  const TensorDims t = cuda::cudnn::conv_dims({2, 3, 11}, {33, 11, 1}, 1);
  EXPECT_EQ(t.nd, 4);
  EXPECT_EQ(t.dims, (std::array<int64_t, 5>{2, 3, 1, 11, 1}));
  EXPECT_EQ(t.strides[0], 33);
  EXPECT_EQ(t.strides[1], 11);
  EXPECT_EQ(t.strides[3], 1);
  EXPECT_TRUE(is_dense(t, Layout::NCHW));
  const TensorDims t3 = cuda::cudnn::conv_dims({2, 3, 4, 5, 6}, {360, 120, 30, 6, 1}, 3);
  EXPECT_EQ(t3.nd, 5);
  EXPECT_EQ(t3.dims, (std::array<int64_t, 5>{2, 3, 4, 5, 6}));
  EXPECT_EQ(t3.numel(), 720);
}

TEST(CudnnLayout, PackedStridesAndDensity) {
  TensorDims t;
  t.nd = 4;
  t.dims = {2, 3, 4, 5, 1};
  EXPECT_EQ(packed_strides(t, Layout::NCHW), (std::array<int64_t, 5>{60, 20, 5, 1, 1}));
  EXPECT_EQ(packed_strides(t, Layout::NHWC), (std::array<int64_t, 5>{60, 1, 15, 3, 1}));
  t.strides = {60, 1, 15, 3, 1};  // torch's channels-last strides
  EXPECT_TRUE(is_dense(t, Layout::NHWC));
  EXPECT_FALSE(is_dense(t, Layout::NCHW));
  t.strides = {60, 20, 5, 1, 1};
  EXPECT_TRUE(is_dense(t, Layout::NCHW));
  EXPECT_FALSE(is_dense(t, Layout::NHWC));
  t.strides = {120, 40, 10, 2, 1};  // every other element: dense in neither
  EXPECT_FALSE(is_dense(t, Layout::NCHW));
  EXPECT_FALSE(is_dense(t, Layout::NHWC));
  // Size-1 dims do not count, whatever their stride.
  TensorDims u;
  u.nd = 4;
  u.dims = {2, 3, 1, 1, 1};
  u.strides = {3, 1, 77, 99, 1};
  EXPECT_TRUE(is_dense(u, Layout::NCHW));
  EXPECT_TRUE(is_dense(u, Layout::NHWC));
  // The same rule on [N, C, *] tensors of any rank (batch norm).
  EXPECT_TRUE(cuda::cudnn::is_dense({4, 3, 5}, {15, 1, 3}, Layout::NHWC));
  EXPECT_FALSE(cuda::cudnn::is_dense({4, 3, 5}, {15, 1, 3}, Layout::NCHW));
  EXPECT_TRUE(cuda::cudnn::is_dense({4, 3}, {3, 1}, Layout::NCHW));
  EXPECT_TRUE(cuda::cudnn::is_dense({4, 3}, {3, 1}, Layout::NHWC));
}

TEST(CudnnLayout, ChooseLayout) {
  TensorDims nchw, nhwc, both, neither;
  nchw.dims = nhwc.dims = neither.dims = {2, 3, 4, 5, 1};
  nchw.strides = {60, 20, 5, 1, 1};
  nhwc.strides = {60, 1, 15, 3, 1};
  neither.strides = {120, 40, 10, 2, 1};
  both.dims = {2, 3, 1, 1, 1};
  both.strides = {3, 1, 1, 1, 1};
  EXPECT_EQ(choose_layout(nhwc, {&nchw}), Layout::NHWC);  // the result decides
  EXPECT_EQ(choose_layout(nchw, {&nhwc}), Layout::NCHW);
  EXPECT_EQ(choose_layout(both, {&nhwc}), Layout::NHWC);  // ambiguous: channels-last input
  EXPECT_EQ(choose_layout(both, {&nchw}), Layout::NCHW);
  EXPECT_EQ(choose_layout(neither, {&nchw, &nhwc}), Layout::NHWC);
  EXPECT_EQ(choose_layout(neither, {&nchw}), Layout::NCHW);
}

TEST(CudnnLayout, Int32LimitsAndBatchNormDims) {
  TensorDims t;
  t.dims = {1 << 16, 1 << 15, 1, 1, 1};
  t.strides = {1 << 15, 1, 1, 1, 1};
  EXPECT_FALSE(fits_int32(t));  // 2^31 elements
  t.dims[0] = (1 << 16) - 1;
  EXPECT_TRUE(fits_int32(t));
  const TensorDims b = cuda::cudnn::batch_norm_dims({4, 3, 5, 6}, Layout::NHWC);
  EXPECT_EQ(b.dims, (std::array<int64_t, 5>{4, 3, 30, 1, 1}));
  EXPECT_EQ(b.strides[1], 1);
  EXPECT_EQ(b.strides[2], 3);
  EXPECT_EQ(cuda::cudnn::batch_norm_dims({4, 3}, Layout::NCHW).dims,
            (std::array<int64_t, 5>{4, 3, 1, 1, 1}));
}

TEST(CudnnLayout, ConvKeysSeparateEveryProblemField) {
  ConvProblem p;
  p.x = {2, 3, 8, 8, 1};
  p.w = {4, 3, 3, 3, 1};
  p.y = {2, 4, 6, 6, 1};
  const ConvKey base = conv_key(p);
  EXPECT_EQ(conv_key(p), base);
  std::vector<ConvProblem> variants(10, p);
  variants[0].kind = cuda::cudnn::ConvKind::BackwardData;
  variants[1].device = 1;
  variants[2].dtype = 3;
  variants[3].layout = Layout::NHWC;
  variants[4].x[2] = 9;
  variants[5].stride[1] = 2;
  variants[6].dilation[0] = 2;
  variants[7].groups = 3;
  variants[8].math = 2;
  variants[9].deterministic = true;
  for (size_t i = 0; i < variants.size(); ++i) EXPECT_NE(conv_key(variants[i]), base) << i;
  p.benchmark = true;
  EXPECT_NE(conv_key(p), base);
}

TEST(CudnnFlags, DefaultsAndSwitches) {
  EXPECT_TRUE(cuda::cudnn_enabled());
  EXPECT_FALSE(cuda::cudnn_benchmark());
  EXPECT_FALSE(cuda::cudnn_deterministic());
  EXPECT_TRUE(cuda::cudnn_allow_tf32());
  cuda::set_cudnn_benchmark(true);
  EXPECT_TRUE(cuda::cudnn_benchmark());
  cuda::set_cudnn_benchmark(false);
  EXPECT_EQ(cuda::cudnn_is_available(), cuda_available());
  if (cuda_available()) {
    EXPECT_GE(cuda::cudnn_version(), 80000);
  }
}

// ---------------- on a GPU ----------------

#define SKIP_WITHOUT_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: cuDNN test skipped"

#if defined(KILN_WITH_CUDA)

const Device kGpu = Device::cuda(0);

// Restores a switch on scope exit.
struct TF32Off {
  bool saved = cuda::cudnn_allow_tf32();
  TF32Off() { cuda::set_cudnn_allow_tf32(false); }
  ~TF32Off() { cuda::set_cudnn_allow_tf32(saved); }
};

double tolerance(DType t) {
  switch (t) {
    case DType::Float64:
      return 1e-10;
    case DType::Float32:
      return 1e-4;
    case DType::Float16:
      return 2e-2;
    default:
      return 6e-2;
  }
}

// `t` (CPU) in `fmt` on the GPU.
Tensor gpu(const Tensor& t, MemoryFormat fmt = MemoryFormat::Contiguous) {
  Tensor g = t.to(kGpu);
  return t.dim() >= 4 ? contiguous(g, fmt) : g;
}
Tensor f64(const Tensor& t) { return t.cpu().to(DType::Float64); }
// An uninitialised GPU tensor in `fmt`.
Tensor gpu_empty(const Shape& s, DType dtype, MemoryFormat fmt) {
  return empty(s, TensorOptions(dtype, kGpu), s.size() >= 4 ? fmt : MemoryFormat::Contiguous);
}

struct ConvCase {
  std::string name;
  int64_t n, c, oc;
  Shape in, k;
  ConvGeometry g;
};

Shape out_shape(const ConvCase& cc) {
  Shape o{cc.n, cc.oc};
  for (int i = 0; i < cc.g.spatial; ++i) {
    const size_t s = size_t(i);
    o.push_back((cc.in[s] + 2 * cc.g.padding[s] - cc.g.dilation[s] * (cc.k[s] - 1) - 1) /
                    cc.g.stride[s] +
                1);
  }
  return o;
}

ConvGeometry geometry(int spatial, std::array<int64_t, 3> stride, std::array<int64_t, 3> pad,
                      std::array<int64_t, 3> dil, int64_t groups) {
  ConvGeometry g;
  g.spatial = spatial;
  g.stride = stride;
  g.padding = pad;
  g.dilation = dil;
  g.groups = groups;
  return g;
}

std::vector<ConvCase> conv_cases() {
  return {
      {"2d", 2, 3, 4, {7, 6}, {3, 3}, geometry(2, {1, 1, 1}, {1, 1, 0}, {1, 1, 1}, 1)},
      {"2d strided dilated groups",
       2,
       4,
       6,
       {9, 8},
       {3, 2},
       geometry(2, {2, 1, 1}, {0, 1, 0}, {2, 1, 1}, 2)},
      {"depthwise", 3, 4, 4, {6, 5}, {3, 3}, geometry(2, {1, 1, 1}, {1, 1, 0}, {1, 1, 1}, 4)},
      {"pointwise", 2, 8, 5, {4, 4}, {1, 1}, geometry(2, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1)},
      {"transposed-like (stride 2, even input)",
       2,
       3,
       2,
       {8, 8},
       {3, 3},
       geometry(2, {2, 2, 1}, {1, 1, 0}, {1, 1, 1}, 1)},
      {"1d", 2, 3, 5, {11}, {4}, geometry(1, {2, 1, 1}, {1, 0, 0}, {1, 1, 1}, 1)},
      {"1d dilated groups", 2, 6, 3, {10}, {3}, geometry(1, {1, 1, 1}, {2, 0, 0}, {2, 1, 1}, 3)},
      {"3d", 2, 2, 3, {5, 4, 6}, {3, 2, 3}, geometry(3, {1, 2, 1}, {1, 0, 1}, {1, 1, 2}, 1)},
  };
}

// Forward, backward data and backward weight of one case on the GPU in `dtype` and `fmt`,
// against the CPU on float64 copies of the same inputs.
void check_conv(const ConvCase& cc, DType dtype, MemoryFormat fmt) {
  const std::string what = cc.name + " " + dtype_name(dtype) + " " + memory_format_name(fmt);
  SCOPED_TRACE(what);
  Shape xs{cc.n, cc.c}, ws{cc.oc, cc.c / cc.g.groups};
  for (int64_t s : cc.in) xs.push_back(s);
  for (int64_t s : cc.k) ws.push_back(s);
  const Shape ys = out_shape(cc);
  const Tensor x = randn(xs).to(dtype), w = randn(ws).to(dtype), dy = randn(ys).to(dtype);
  Backend& cpu = backend(Device::cpu());
  Backend& gpu_be = backend(kGpu);
  const double tol = tolerance(dtype);

  Tensor want = empty(ys, TensorOptions(DType::Float64));
  cpu.conv_forward(f64(x), f64(w), cc.g, want);
  Tensor got = gpu_empty(ys, dtype, fmt);
  gpu_be.conv_forward(gpu(x, fmt), gpu(w, fmt), cc.g, got);
  expect_close(f64(got), want, tol, tol, "forward");

  Tensor want_dx = empty(xs, TensorOptions(DType::Float64));
  cpu.conv_backward_data(f64(dy), f64(w), cc.g, want_dx);
  Tensor got_dx = gpu_empty(xs, dtype, fmt);
  gpu_be.conv_backward_data(gpu(dy, fmt), gpu(w, fmt), cc.g, got_dx);
  expect_close(f64(got_dx), want_dx, tol, tol, "backward data");

  Tensor want_dw = empty(ws, TensorOptions(DType::Float64));
  cpu.conv_backward_weight(f64(x), f64(dy), cc.g, want_dw);
  Tensor got_dw = gpu_empty(ws, dtype, fmt);
  gpu_be.conv_backward_weight(gpu(x, fmt), gpu(dy, fmt), cc.g, got_dw);
  // The weight gradient sums N * O... products: scale the tolerance with the sum's length.
  expect_close(f64(got_dw), want_dw, tol * 4, tol, "backward weight");
}

TEST(CudnnConv, MatchesCpuAcrossDtypesLayoutsAndGeometries) {
  SKIP_WITHOUT_GPU();
  TF32Off tf32_off;
  manual_seed(7);
  for (const ConvCase& cc : conv_cases()) {
    for (DType dtype : {DType::Float64, DType::Float32, DType::Float16, DType::BFloat16}) {
      check_conv(cc, dtype, MemoryFormat::Contiguous);
      if (cc.g.spatial == 2) check_conv(cc, dtype, MemoryFormat::ChannelsLast);
      if (cc.g.spatial == 3) check_conv(cc, dtype, MemoryFormat::ChannelsLast3d);
    }
  }
}

TEST(CudnnConv, StridedOperandsAndMixedLayouts) {
  SKIP_WITHOUT_GPU();
  TF32Off tf32_off;
  manual_seed(8);
  const ConvGeometry g = geometry(2, {1, 1, 1}, {1, 1, 0}, {1, 1, 1}, 1);
  // x a transposed view (dense in neither layout), w channels-last, y contiguous.
  const Tensor x = randn({2, 3, 6, 5}), w = randn({4, 3, 3, 3});
  Tensor want = empty({2, 4, 5, 6}, TensorOptions(DType::Float64));
  backend(Device::cpu()).conv_forward(f64(x).transpose(2, 3), f64(w), g, want);
  Tensor got = empty({2, 4, 5, 6}, TensorOptions(DType::Float32, kGpu));
  backend(kGpu).conv_forward(gpu(x).transpose(2, 3), gpu(w, MemoryFormat::ChannelsLast), g, got);
  expect_close(f64(got), want, 1e-4, 1e-4, "forward from a transposed view");
  // A result that is itself a strided view is written through a scratch tensor.
  Tensor big = zeros({2, 4, 5, 12}, TensorOptions(DType::Float32, kGpu));
  Tensor view = big.slice(3, 0, 12, 2);
  backend(kGpu).conv_forward(gpu(x).transpose(2, 3), gpu(w), g, view);
  expect_close(f64(view), want, 1e-4, 1e-4, "strided result");
  expect_close(f64(big.slice(3, 1, 12, 2)), zeros({2, 4, 5, 6}, TensorOptions(DType::Float64)), 0,
               0, "untouched neighbours");
}

TEST(CudnnConv, AlgorithmCacheReusesEntries) {
  SKIP_WITHOUT_GPU();
  cuda::cudnn::clear_conv_cache();
  const ConvGeometry g = geometry(2, {1, 1, 1}, {1, 1, 0}, {1, 1, 1}, 1);
  const Tensor x = gpu(randn({2, 3, 8, 8})), w = gpu(randn({4, 3, 3, 3}));
  Tensor y = empty({2, 4, 8, 8}, TensorOptions(DType::Float32, kGpu));
  backend(kGpu).conv_forward(x, w, g, y);
  auto s = cuda::cudnn::conv_cache_stats();
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.hits, 0);
  EXPECT_EQ(s.entries, 1);
  for (int i = 0; i < 3; ++i) backend(kGpu).conv_forward(x, w, g, y);
  s = cuda::cudnn::conv_cache_stats();
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.hits, 3);
  // Another shape, another switch: new entries.
  const Tensor x2 = gpu(randn({3, 3, 8, 8}));
  Tensor y2 = empty({3, 4, 8, 8}, TensorOptions(DType::Float32, kGpu));
  backend(kGpu).conv_forward(x2, w, g, y2);
  cuda::set_cudnn_deterministic(true);
  backend(kGpu).conv_forward(x, w, g, y);
  cuda::set_cudnn_deterministic(false);
  s = cuda::cudnn::conv_cache_stats();
  EXPECT_EQ(s.misses, 3);
  EXPECT_EQ(s.entries, 3);
}

TEST(CudnnConv, DeterministicAndBenchmarkSwitches) {
  SKIP_WITHOUT_GPU();
  TF32Off tf32_off;
  manual_seed(9);
  const ConvGeometry g = geometry(2, {1, 1, 1}, {1, 1, 0}, {1, 1, 1}, 1);
  const Tensor x = randn({8, 16, 12, 12}), dy = randn({8, 32, 12, 12});
  Tensor want = empty({32, 16, 3, 3}, TensorOptions(DType::Float64));
  backend(Device::cpu()).conv_backward_weight(f64(x), f64(dy), g, want);
  cuda::set_cudnn_deterministic(true);
  Tensor a = empty({32, 16, 3, 3}, TensorOptions(DType::Float32, kGpu));
  Tensor b = empty({32, 16, 3, 3}, TensorOptions(DType::Float32, kGpu));
  backend(kGpu).conv_backward_weight(gpu(x), gpu(dy), g, a);
  backend(kGpu).conv_backward_weight(gpu(x), gpu(dy), g, b);
  cuda::set_cudnn_deterministic(false);
  expect_close(f64(a), f64(b), 0, 0, "deterministic: bit-identical");
  expect_close(f64(a), want, 1e-3, 1e-4, "deterministic");
  cuda::set_cudnn_benchmark(true);
  Tensor c = empty({32, 16, 3, 3}, TensorOptions(DType::Float32, kGpu));
  backend(kGpu).conv_backward_weight(gpu(x), gpu(dy), g, c);
  cuda::set_cudnn_benchmark(false);
  expect_close(f64(c), want, 1e-3, 1e-4, "benchmark");
}

TEST(CudnnConv, DisabledRaisesAndEmptyInputsGiveZeros) {
  SKIP_WITHOUT_GPU();
  const ConvGeometry g = geometry(2, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1);
  const Tensor x = gpu(randn({2, 3, 4, 4})), w = gpu(randn({4, 3, 3, 3}));
  Tensor y = empty({2, 4, 2, 2}, TensorOptions(DType::Float32, kGpu));
  cuda::set_cudnn_enabled(false);
  EXPECT_THROW_MSG(backend(kGpu).conv_forward(x, w, g, y), Error, "convolution", "disabled");
  cuda::set_cudnn_enabled(true);
  // No samples: the weight gradient is an empty sum.
  Tensor dw = full({4, 3, 3, 3}, 5.0, DType::Float32, kGpu);
  backend(kGpu).conv_backward_weight(gpu(randn({0, 3, 4, 4})), gpu(randn({0, 4, 2, 2})), g, dw);
  expect_close(f64(dw), zeros({4, 3, 3, 3}, TensorOptions(DType::Float64)), 0, 0, "zeros");
}

TEST(CudnnConv, PublicConv2dWithAutogradMatchesCpu) {
  SKIP_WITHOUT_GPU();
  TF32Off tf32_off;
  manual_seed(10);
  const Tensor x0 = randn({2, 3, 9, 9}), w0 = randn({6, 1, 3, 3}), b0 = randn({6});
  auto run = [&](Device d, MemoryFormat fmt) {
    Tensor x = (d.is_cpu() ? x0.clone() : contiguous(x0.to(d), fmt)).requires_grad_();
    Tensor w = w0.to(d).requires_grad_(), b = b0.to(d).requires_grad_();
    Tensor y = nn::functional::conv2d(x, w, b, {2, 1}, {1, 1}, {1, 2}, 3);
    (y * y).sum().backward();
    return std::vector<Tensor>{y.cpu(), x.grad().cpu(), w.grad().cpu(), b.grad().cpu()};
  };
  const std::vector<Tensor> want = run(Device::cpu(), MemoryFormat::Contiguous);
  for (MemoryFormat fmt : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    const std::vector<Tensor> got = run(kGpu, fmt);
    const char* names[] = {"y", "dx", "dw", "db"};
    for (size_t i = 0; i < 4; ++i)
      expect_close(got[i], want[i], 1e-3, 1e-4,
                   std::string(names[i]) + " " + memory_format_name(fmt));
  }
}

// ---------------- batch norm ----------------

struct BnResult {
  Tensor y, save_mean, save_invstd, running_mean, running_var, dx, dw, db;
};

// The forward (and, in training, the backward) of the backend on `device`; inputs are CPU
// tensors converted to `device` and `fmt`, per-channel ones to the statistics dtype.
BnResult run_bn(Device device, const Tensor& x0, const Tensor& dy0, const Tensor& w0,
                const Tensor& b0, const Tensor& rm0, const Tensor& rv0, BatchNormArgs args,
                MemoryFormat fmt) {
  const DType sd =
      x0.dtype() == DType::Float16 || x0.dtype() == DType::BFloat16 ? DType::Float32 : x0.dtype();
  auto put = [&](const Tensor& t) {
    Tensor d = t.to(device);
    return t.dim() >= 4 ? contiguous(d, fmt) : d;
  };
  auto chan = [&](const Tensor& t) { return t.defined() ? t.to(device, sd).clone() : t; };
  const int64_t c = x0.size(1);
  const Tensor x = put(x0), dy = put(dy0);
  BnResult r;
  r.running_mean = chan(rm0);
  r.running_var = chan(rv0);
  const Tensor w = chan(w0), b = chan(b0);
  r.y = x.dim() >= 4 ? empty(x.shape(), TensorOptions(x.dtype(), device), fmt)
                     : empty(x.shape(), TensorOptions(x.dtype(), device));
  if (args.training) {
    r.save_mean = empty({c}, TensorOptions(sd, device));
    r.save_invstd = empty({c}, TensorOptions(sd, device));
  }
  Backend& be = backend(device);
  be.batch_norm_forward(x, w, b, r.running_mean, r.running_var, args, r.y, r.save_mean,
                        r.save_invstd);
  if (args.training) {
    r.dx = x.dim() >= 4 ? empty(x.shape(), TensorOptions(x.dtype(), device), fmt)
                        : empty(x.shape(), TensorOptions(x.dtype(), device));
    r.dw = empty({c}, TensorOptions(sd, device));
    r.db = empty({c}, TensorOptions(sd, device));
    be.batch_norm_backward(x, dy, w, r.save_mean, r.save_invstd, r.dx, r.dw, r.db);
  }
  return r;
}

void check_bn(const Shape& shape, DType dtype, MemoryFormat fmt, bool training, bool affine,
              double eps) {
  const std::string what = shape_str(shape) + " " + dtype_name(dtype) + " " +
                           memory_format_name(fmt) + (training ? " train" : " eval") +
                           (affine ? " affine" : "") + " eps " + std::to_string(eps);
  SCOPED_TRACE(what);
  const int64_t c = shape[1];
  // An offset mean, so that a one-pass variance would lose digits.
  const Tensor x = (randn(shape) * 2.0 + 3.0).to(dtype), dy = randn(shape).to(dtype);
  const Tensor w = affine ? randn({c}) : Tensor(), b = affine ? randn({c}) : Tensor();
  const Tensor rm = randn({c}), rv = rand({c}) + 0.5;
  const BatchNormArgs args{training, 0.1, eps};
  // The CPU oracle in float64 (its statistics are float64 too).
  const BnResult want =
      run_bn(Device::cpu(), x.to(DType::Float64), dy.to(DType::Float64),
             w.defined() ? w.to(DType::Float64) : w, b.defined() ? b.to(DType::Float64) : b,
             rm.to(DType::Float64), rv.to(DType::Float64), args, MemoryFormat::Contiguous);
  const BnResult got = run_bn(kGpu, x, dy, w, b, rm, rv, args, fmt);
  const double tol = tolerance(dtype), stat_tol = dtype == DType::Float64 ? 1e-12 : 1e-4;
  if (shape.size() >= 4 && fmt != MemoryFormat::Contiguous) {
    EXPECT_TRUE(is_contiguous(got.y, fmt)) << "y keeps x's layout";
  }
  expect_close(f64(got.y), want.y, tol, tol, "y");
  if (!training) return;
  expect_close(f64(got.save_mean), want.save_mean, stat_tol, stat_tol, "save_mean");
  expect_close(f64(got.save_invstd), want.save_invstd, stat_tol, stat_tol, "save_invstd");
  expect_close(f64(got.running_mean), want.running_mean, stat_tol, stat_tol, "running_mean");
  expect_close(f64(got.running_var), want.running_var, stat_tol, stat_tol, "running_var");
  expect_close(f64(got.dx), want.dx, tol, tol, "dx");
  expect_close(f64(got.dw), want.dw, tol * 10, tol, "dweight");
  expect_close(f64(got.db), want.db, tol * 10, tol, "dbias");
}

TEST(CudnnBatchNorm, MatchesCpu) {
  SKIP_WITHOUT_GPU();
  manual_seed(11);
  for (DType dtype : {DType::Float64, DType::Float32, DType::Float16, DType::BFloat16}) {
    for (bool training : {true, false}) {
      check_bn({4, 3, 5, 6}, dtype, MemoryFormat::Contiguous, training, true, 1e-5);
      check_bn({4, 3, 5, 6}, dtype, MemoryFormat::ChannelsLast, training, true, 1e-5);
      check_bn({6, 5}, dtype, MemoryFormat::Contiguous, training, true, 1e-5);      // 2-D
      check_bn({3, 4, 7}, dtype, MemoryFormat::Contiguous, training, false, 1e-5);  // 3-D
      check_bn({2, 3, 2, 3, 4}, dtype, MemoryFormat::ChannelsLast3d, training, true, 1e-3);
      check_bn({4, 3, 5, 6}, dtype, MemoryFormat::Contiguous, training, false, 1e-7);  // tiny eps
    }
  }
}

TEST(CudnnBatchNorm, PathsAndKilnKernels) {
  SKIP_WITHOUT_GPU();
  manual_seed(12);
  auto stats = [] { return cuda::cudnn::batch_norm_stats(); };
  auto before = stats();
  check_bn({4, 3, 5, 6}, DType::Float32, MemoryFormat::Contiguous, true, true, 1e-5);
  EXPECT_EQ(stats().cudnn_forward, before.cudnn_forward + 1) << "float32 runs cuDNN";
  EXPECT_EQ(stats().cudnn_backward, before.cudnn_backward + 1);
  before = stats();
  check_bn({4, 3, 5, 6}, DType::BFloat16, MemoryFormat::ChannelsLast, true, true, 1e-5);
  EXPECT_EQ(stats().native_forward, before.native_forward + 1) << "bfloat16 runs Kiln's kernels";
  EXPECT_EQ(stats().native_backward, before.native_backward + 1);
  // cuDNN switched off: Kiln's kernels for every dtype, same answers.
  cuda::set_cudnn_enabled(false);
  before = stats();
  for (DType dtype : {DType::Float64, DType::Float32, DType::Float16}) {
    check_bn({4, 3, 5, 6}, dtype, MemoryFormat::Contiguous, true, true, 1e-5);
    check_bn({4, 3, 5, 6}, dtype, MemoryFormat::ChannelsLast, false, true, 1e-5);
  }
  cuda::set_cudnn_enabled(true);
  EXPECT_EQ(stats().native_forward, before.native_forward + 6);
  EXPECT_EQ(stats().cudnn_forward, before.cudnn_forward);
  // A big channels-last batch through the row kernel's chunks (many blocks per channel).
  check_bn({64, 8, 16, 16}, DType::Float32, MemoryFormat::ChannelsLast, true, true, 1e-5);
  cuda::set_cudnn_enabled(false);
  check_bn({64, 8, 16, 16}, DType::Float32, MemoryFormat::ChannelsLast, true, true, 1e-5);
  check_bn({64, 8, 16, 16}, DType::Float32, MemoryFormat::Contiguous, true, true, 1e-5);
  cuda::set_cudnn_enabled(true);
}

TEST(CudnnBatchNorm, PublicBatchNormWithAutogradMatchesCpu) {
  SKIP_WITHOUT_GPU();
  manual_seed(13);
  const Tensor x0 = randn({4, 3, 5, 5}) + 1.0, w0 = randn({3}), b0 = randn({3});
  auto run = [&](Device d, MemoryFormat fmt) {
    Tensor x = (d.is_cpu() ? x0.clone() : contiguous(x0.to(d), fmt)).requires_grad_();
    Tensor w = w0.to(d).requires_grad_(), b = b0.to(d).requires_grad_();
    Tensor rm = zeros({3}, TensorOptions(DType::Float32, d)),
           rv = ones({3}, TensorOptions(DType::Float32, d));
    Tensor y = nn::functional::batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
    (y * y * y).sum().backward();
    return std::vector<Tensor>{y.cpu(),        x.grad().cpu(), w.grad().cpu(),
                               b.grad().cpu(), rm.cpu(),       rv.cpu()};
  };
  const std::vector<Tensor> want = run(Device::cpu(), MemoryFormat::Contiguous);
  for (MemoryFormat fmt : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    const std::vector<Tensor> got = run(kGpu, fmt);
    const char* names[] = {"y", "dx", "dw", "db", "running_mean", "running_var"};
    for (size_t i = 0; i < got.size(); ++i)
      expect_close(got[i], want[i], 1e-4, 1e-4,
                   std::string(names[i]) + " " + memory_format_name(fmt));
  }
}

#else

TEST(CudnnConv, NeedsTheCudaBackend) {
  GTEST_SKIP() << "no CUDA backend in this build: cuDNN tests skipped";
}

#endif  // KILN_WITH_CUDA

}  // namespace
}  // namespace kiln::testing
