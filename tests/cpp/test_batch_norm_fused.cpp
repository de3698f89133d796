// The fused batch_norm op (src/ops/batch_norm.cpp, CPU kernels src/cpu/batch_norm.cpp) against
// its composite (nn/batch_norm_composite.h) evaluated in float64 on the same values: outputs,
// running statistics and gradients over 2-D..5-D inputs, training / evaluation, affine or not,
// running statistics or not, float64 / float32 / bfloat16, contiguous, channels-last and
// strided inputs; fp64 gradchecks of first and second order through the fused op; double
// backward against the composite's; the kernels on arbitrary strides, their thread-count
// independence and contract errors; the op's errors and dispatch decisions.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "kiln/autograd.h"
#include "kiln/gradcheck.h"
#include "kiln/memory_format.h"
#include "kiln/nn/normalization.h"
#include "kiln/ops.h"
#include "nn/batch_norm_composite.h"
#include "ops/batch_norm.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::testing;
namespace F = kiln::nn::functional;
using F::detail::batch_norm_composite;

namespace {

constexpr const char* kFusedNode = "NativeBatchNormBackward0";

// sin(a * i + b) * scale + shift, row-major, float64.
Tensor values(const Shape& shape, double a, double b, double scale = 1.0, double shift = 0.0) {
  std::vector<double> v(static_cast<size_t>(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(a * double(i) + b) * scale + shift;
  return tensor(v, shape, TensorOptions(DType::Float64));
}

enum class Layout { Contiguous, ChannelsLast, Strided };

std::string layout_name(Layout l) {
  return l == Layout::Contiguous     ? "contiguous"
         : l == Layout::ChannelsLast ? "channels_last"
                                     : "strided";
}

MemoryFormat channels_last_of(int64_t dim) {
  return dim == 5 ? MemoryFormat::ChannelsLast3d : MemoryFormat::ChannelsLast;
}

// x's values stored in `layout` (Strided: every other element of a buffer twice as wide in the
// last dim, a layout no fast path takes).
Tensor laid_out(const Tensor& x, Layout layout) {
  switch (layout) {
    case Layout::Contiguous:
      return x.contiguous();
    case Layout::ChannelsLast:
      return contiguous(x, channels_last_of(x.dim()));
    case Layout::Strided: {
      Shape wide = x.shape();
      wide.back() *= 2;
      Tensor buf = zeros(wide, TensorOptions(x.dtype()));
      Tensor view = buf.slice(-1, 0, std::nullopt, 2);
      view.copy_(x);
      return view;
    }
  }
  return x;
}

struct Case {
  Shape shape;
  bool training = true;
  bool affine = true;
  bool running = true;
  Layout layout = Layout::Contiguous;
  std::string str() const {
    return shape_str(shape) + (training ? " training" : " eval") + (affine ? " affine" : "") +
           (running ? " running" : "") + " " + layout_name(layout);
  }
};

struct Outcome {
  Tensor y, gx, gw, gb, rm, rv;
  std::string node;  // the name of y's grad_fn
};

// Runs batch_norm (fused or composite) in `dtype` on the case's values, then backward of
// sum(y * gy); every input is rounded to `dtype` first, so both see the same numbers.
Outcome run(const Case& c, DType dtype, bool fused, DType param_dtype) {
  const int64_t ch = c.shape[1];
  Tensor x = laid_out(values(c.shape, 0.71, 0.3, 2.0, 0.5).to(dtype), c.layout);
  x = x.detach().requires_grad_();
  Tensor w, b, rm, rv;
  if (c.affine) {
    w = values({ch}, 1.3, 0.2, 0.5, 1.0).to(param_dtype).requires_grad_();
    b = values({ch}, 0.4, 0.9).to(param_dtype).requires_grad_();
  }
  if (c.running) {
    rm = values({ch}, 0.8, 0.1, 0.3).to(param_dtype);
    rv = values({ch}, 0.6, 0.7, 0.4, 1.2).to(param_dtype);
  }
  const double momentum = 0.3, eps = 1e-3;
  Tensor y = fused ? F::batch_norm(x, rm, rv, w, b, c.training, momentum, eps)
                   : batch_norm_composite(x, rm, rv, w, b, c.training, momentum, eps);
  Outcome o;
  o.node = y.grad_fn() ? y.grad_fn()->name() : "";
  Tensor gy = values(c.shape, 0.37, 0.2, 1.5).to(y.dtype());
  (y * gy).sum().backward();
  o.y = y;
  o.gx = x.grad();
  if (c.affine) {
    o.gw = w.grad();
    o.gb = b.grad();
  }
  o.rm = rm;
  o.rv = rv;
  return o;
}

void expect_same(const Outcome& got, const Outcome& want, double tol, const std::string& what) {
  const auto f64 = [](const Tensor& t) { return t.defined() ? t.to(DType::Float64) : t; };
  expect_close(f64(got.y), want.y, tol, tol, what + ": y");
  expect_close(f64(got.gx), want.gx, tol, tol, what + ": grad x");
  if (want.gw.defined()) {
    expect_close(f64(got.gw), want.gw, tol, tol, what + ": grad weight");
    expect_close(f64(got.gb), want.gb, tol, tol, what + ": grad bias");
  }
  if (want.rm.defined()) {
    expect_close(f64(got.rm), want.rm, tol, tol, what + ": running_mean");
    expect_close(f64(got.rv), want.rv, tol, tol, what + ": running_var");
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const Shape& shape : std::vector<Shape>{{6, 3}, {4, 3, 5}, {2, 3, 4, 5}, {2, 3, 2, 3, 4}}) {
    std::vector<Layout> layouts{Layout::Contiguous, Layout::Strided};
    if (shape.size() >= 4) layouts.push_back(Layout::ChannelsLast);
    for (Layout layout : layouts) {
      for (bool training : {true, false}) {
        for (bool affine : {true, false}) {
          for (bool running : {true, false}) {
            if (!training && !running) continue;  // evaluation needs running statistics
            cases.push_back({shape, training, affine, running, layout});
          }
        }
      }
    }
  }
  return cases;
}

void expect_gradcheck(const autograd::Function& f, const std::vector<Tensor>& inputs,
                      const std::string& what) {
  GradcheckOptions opt;
  opt.check_second_order = true;
  GradcheckResult res = gradcheck(f, inputs, opt);
  EXPECT_TRUE(res.ok) << what << ": " << res.message;
}

}  // namespace

// ---------------- fused vs composite ----------------

TEST(BatchNormFused, MatchesCompositeAcrossShapesModesLayoutsAndDtypes) {
  struct Precision {
    DType dtype;
    double tol;
  };
  for (const Precision& p : {Precision{DType::Float64, 1e-10}, Precision{DType::Float32, 2e-5},
                             Precision{DType::BFloat16, 3e-2}}) {
    for (const Case& c : all_cases()) {
      const std::string what = c.str() + " " + dtype_name(p.dtype);
      const Outcome got = run(c, p.dtype, /*fused=*/true, p.dtype);
      // The oracle: the composite in float64 on the same rounded values.
      const Outcome want = [&] {
        const int64_t ch = c.shape[1];
        Tensor x = values(c.shape, 0.71, 0.3, 2.0, 0.5).to(p.dtype).to(DType::Float64);
        x = laid_out(x, c.layout).detach().requires_grad_();
        Tensor w, b, rm, rv;
        if (c.affine) {
          w = values({ch}, 1.3, 0.2, 0.5, 1.0).to(p.dtype).to(DType::Float64).requires_grad_();
          b = values({ch}, 0.4, 0.9).to(p.dtype).to(DType::Float64).requires_grad_();
        }
        if (c.running) {
          rm = values({ch}, 0.8, 0.1, 0.3).to(p.dtype).to(DType::Float64);
          rv = values({ch}, 0.6, 0.7, 0.4, 1.2).to(p.dtype).to(DType::Float64);
        }
        Tensor y = batch_norm_composite(x, rm, rv, w, b, c.training, 0.3, 1e-3);
        Tensor gy = values(c.shape, 0.37, 0.2, 1.5).to(p.dtype).to(DType::Float64);
        (y * gy).sum().backward();
        Outcome o{y,  x.grad(), c.affine ? w.grad() : Tensor(), c.affine ? b.grad() : Tensor(), rm,
                  rv, ""};
        return o;
      }();
      EXPECT_EQ(got.node, kFusedNode) << what << ": the fused op did not run";
      expect_same(got, want, p.tol, what);
      if (c.layout == Layout::ChannelsLast)
        EXPECT_TRUE(is_contiguous(got.y, channels_last_of(int64_t(c.shape.size()))))
            << what << ": a channels-last input gives a channels-last result";
    }
  }
}

TEST(BatchNormFused, CompositeInSameDtypeAgreesToo) {
  // The composite itself in float32 (what functional batch_norm ran before the fused op).
  for (const Case& c : all_cases()) {
    if (c.layout != Layout::Contiguous) continue;
    const Outcome fused = run(c, DType::Float32, true, DType::Float32);
    Outcome composite = run(c, DType::Float32, false, DType::Float32);
    EXPECT_NE(composite.node, kFusedNode);
    const auto f64 = [](Tensor& t) {
      if (t.defined()) t = t.to(DType::Float64);
    };
    for (Tensor* t :
         {&composite.y, &composite.gx, &composite.gw, &composite.gb, &composite.rm, &composite.rv})
      f64(*t);
    expect_same(fused, composite, 5e-5, c.str() + " float32 vs float32 composite");
  }
}

TEST(BatchNormFused, MixedPrecisionParametersAndRunningStats) {
  // bfloat16 input with float32 parameters and running statistics (torch's mixed CPU mode): the
  // result stays bfloat16, the statistics and parameter gradients float32.
  const Case c{{4, 3, 5}, true, true, true, Layout::Contiguous};
  const Outcome got = run(c, DType::BFloat16, true, DType::Float32);
  EXPECT_EQ(got.node, kFusedNode);
  EXPECT_EQ(got.y.dtype(), DType::BFloat16);
  EXPECT_EQ(got.rm.dtype(), DType::Float32);
  EXPECT_EQ(got.gw.dtype(), DType::Float32);
  const Outcome want = run(c, DType::Float64, false, DType::Float64);
  // Only x is rounded to bfloat16 here, so the tolerance is bfloat16's.
  expect_same(got, want, 3e-2, "bf16 x, f32 params");
  // The running statistics see the exact float32 batch statistics of the rounded x.
  Tensor xr = values(c.shape, 0.71, 0.3, 2.0, 0.5).to(DType::BFloat16).to(DType::Float64);
  Tensor rm0 = values({3}, 0.8, 0.1, 0.3).to(DType::Float32).to(DType::Float64);
  expect_close(got.rm.to(DType::Float64), rm0 * 0.7 + mean(xr, {0, 2}) * 0.3, 1e-6, 1e-6,
               "running_mean");
}

TEST(BatchNormFused, RunningStatsUpdateInPlaceAndBumpTheirVersion) {
  Tensor x = values({5, 2, 3}, 0.9, 0.2);
  for (DType rdtype : {DType::Float64, DType::Float32}) {
    // float64 running statistics are updated in place; float32 ones (x is float64: the
    // composite's promotion) take the composite's path and still update.
    Tensor rm = zeros({2}, TensorOptions(rdtype)), rv = ones({2}, TensorOptions(rdtype));
    void* rm_data = rm.data_ptr();
    const uint64_t v0 = rm.version();
    F::batch_norm(x, rm, rv, {}, {}, true, 0.5, 1e-5);
    EXPECT_EQ(rm.data_ptr(), rm_data);
    EXPECT_GT(rm.version(), v0);
    expect_close(rm.to(DType::Float64), mean(x, {0, 2}) * 0.5, 1e-6, 1e-6, "running_mean");
    expect_close(rv.to(DType::Float64), var(x, {0, 2}, 1) * 0.5 + 0.5, 1e-6, 1e-6, "running_var");
  }
  // A strided running statistic is updated through a copy and written back.
  Tensor buf = zeros({4}, TensorOptions(DType::Float64));
  Tensor rm = buf.slice(0, 0, std::nullopt, 2);
  F::batch_norm(x, rm, {}, {}, {}, true, 1.0, 1e-5);
  expect_close(rm, mean(x, {0, 2}), 1e-12, 1e-12, "strided running_mean");
  expect_values(buf.slice(0, 1, std::nullopt, 2), {2}, {0, 0}, 0);
  // Without momentum (the factor 0) nothing moves.
  Tensor before = rm.clone();
  F::batch_norm(x, rm, {}, {}, {}, true, std::nullopt, 1e-5);
  expect_close(rm, before, 0, 0, "momentum None");
}

TEST(BatchNormFused, FloatStatisticsStayAccurateFarFromZero) {
  // float32 values around 1000 with spread ~1: a one-pass float sum of squares would lose the
  // variance; the kernel's two double passes do not.
  const Shape shape{16, 2, 64};
  Tensor x32 = values(shape, 0.37, 0.1, 1.0, 1000.0).to(DType::Float32);
  Tensor x64 = x32.to(DType::Float64);
  Tensor rv = ones({2}, TensorOptions(DType::Float32));
  Tensor y = F::batch_norm(x32, {}, rv, {}, {}, true, 1.0, 0.0);
  expect_close(rv.to(DType::Float64), var(x64, {0, 2}, 1), 1e-6, 1e-5, "running_var");
  Tensor want = (x64 - mean(x64, {0, 2}, true)) * rsqrt(var(x64, {0, 2}, 0, true));
  expect_close(y.to(DType::Float64), want, 2e-3, 0, "y");
}

TEST(BatchNormFused, EmptyBatchGivesEmptyResultAndKeepsRunningStats) {
  Tensor rm = values({3}, 0.5, 0.1), rv = values({3}, 0.2, 0.3, 0.1, 1.0);
  Tensor rm0 = rm.clone(), rv0 = rv.clone();
  Tensor w = ones({3}, TensorOptions(DType::Float64)).requires_grad_();
  Tensor y = F::batch_norm(zeros({0, 3, 2}, TensorOptions(DType::Float64)), rm, rv, w, {}, true);
  EXPECT_EQ(y.shape(), (Shape{0, 3, 2}));
  EXPECT_TRUE(y.requires_grad());
  expect_close(rm, rm0, 0, 0, "running_mean");
  expect_close(rv, rv0, 0, 0, "running_var");
}

// ---------------- gradients ----------------

TEST(BatchNormFused, GradcheckFirstAndSecondOrder) {
  struct G {
    Shape shape;
    Layout layout;
  };
  for (const G& g :
       {G{{4, 3}, Layout::Contiguous}, G{{2, 3, 4}, Layout::Strided},
        G{{2, 3, 2, 2}, Layout::ChannelsLast}, G{{2, 2, 2, 1, 3}, Layout::Contiguous}}) {
    const int64_t c = g.shape[1];
    for (bool training : {true, false}) {
      for (bool affine : {true, false}) {
        const std::string what = shape_str(g.shape) + " " + layout_name(g.layout) +
                                 (training ? " training" : " eval") + (affine ? " affine" : "");
        Tensor x = laid_out(values(g.shape, 0.9, 0.1, 1.5), g.layout).detach().requires_grad_();
        Tensor w = values({c}, 1.1, 0.4, 0.5, 1.0).requires_grad_();
        Tensor b = values({c}, 0.3, 0.2).requires_grad_();
        auto f = [training, affine, c](const std::vector<Tensor>& in) {
          // Fresh running statistics per call: training updates them.
          Tensor rm = values({c}, 0.7, 0.3, 0.2), rv = values({c}, 0.5, 0.1, 0.3, 1.0);
          Tensor y = F::batch_norm(in[0], rm, rv, affine ? in[1] : Tensor(),
                                   affine ? in[2] : Tensor(), training, 0.1, 1e-3);
          if (y.grad_fn()) EXPECT_EQ(y.grad_fn()->name(), kFusedNode);  // none under no_grad
          return std::vector<Tensor>{y};
        };
        expect_gradcheck(f, affine ? std::vector<Tensor>{x, w, b} : std::vector<Tensor>{x}, what);
      }
    }
  }
}

TEST(BatchNormFused, DoubleBackwardMatchesComposite) {
  // A gradient penalty: d/d(x, w, b) of |dL/dx|^2 + |dL/dw|^2 with L = sum(y * gy).
  for (bool training : {true, false}) {
    std::vector<std::vector<Tensor>> results;
    for (bool fused : {true, false}) {
      Tensor x = values({3, 2, 4}, 0.8, 0.3, 1.5).requires_grad_();
      Tensor w = values({2}, 1.1, 0.4, 0.5, 1.0).requires_grad_();
      Tensor b = values({2}, 0.3, 0.2).requires_grad_();
      Tensor rm = values({2}, 0.7, 0.3, 0.2), rv = values({2}, 0.5, 0.1, 0.3, 1.0);
      Tensor y = fused ? F::batch_norm(x, rm, rv, w, b, training, 0.1, 1e-3)
                       : batch_norm_composite(x, rm, rv, w, b, training, 0.1, 1e-3);
      EXPECT_EQ(y.grad_fn()->name() == kFusedNode, fused);
      Tensor gy = values({3, 2, 4}, 0.37, 0.2, 1.5);
      auto g = autograd::grad({(y * gy).sum()}, {x, w}, {}, true, /*create_graph=*/true);
      // The differentiable (composite) gradient equals the kernel's.
      auto g_kernel = autograd::grad({(y * gy).sum()}, {x, w}, {}, true, false);
      expect_close(g[0], g_kernel[0], 1e-12, 1e-12, "create_graph dx");
      expect_close(g[1], g_kernel[1], 1e-12, 1e-12, "create_graph dw");
      Tensor penalty = (g[0] * g[0]).sum() + (g[1] * g[1]).sum();
      results.push_back(autograd::grad({penalty}, {x, w, b}, {}, std::nullopt, false, true));
    }
    const std::string what = training ? "training" : "eval";
    expect_close(results[0][0], results[1][0], 1e-10, 1e-10, what + ": d penalty / dx");
    expect_close(results[0][1], results[1][1], 1e-10, 1e-10, what + ": d penalty / dw");
    ASSERT_EQ(results[0][2].defined(), results[1][2].defined()) << what;
    if (results[0][2].defined())
      expect_close(results[0][2], results[1][2], 1e-10, 1e-10, what + ": d penalty / db");
  }
}

TEST(BatchNormFused, ModulesRunTheFusedOp) {
  nn::BatchNorm2d bn(3);
  Tensor x = values({2, 3, 2, 2}, 0.5, 0.2).to(DType::Float32).requires_grad_();
  Tensor y = bn.forward(x);
  EXPECT_EQ(y.grad_fn()->name(), kFusedNode);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
  bn.eval();
  EXPECT_EQ(bn.forward(x).grad_fn()->name(), kFusedNode);
}

// ---------------- dispatch and errors ----------------

TEST(BatchNormFused, DtypeMixesOutsideTorchsKeepTheCompositesPromotion) {
  // float32 input with a float64 weight: torch refuses it; Kiln keeps the composite's
  // promotion to float64 rather than silently changing the result dtype.
  Tensor x = values({3, 2}, 0.5, 0.1).to(DType::Float32).requires_grad_();
  Tensor w = ones({2}, TensorOptions(DType::Float64));
  EXPECT_FALSE(batch_norm_fusable(x, {}, {}, w, {}));
  Tensor y = F::batch_norm(x, {}, {}, w, {}, true);
  EXPECT_EQ(y.dtype(), DType::Float64);
  EXPECT_NE(y.grad_fn()->name(), kFusedNode);
  EXPECT_TRUE(batch_norm_fusable(x, {}, {}, w.to(DType::Float32), {}));
  EXPECT_FALSE(batch_norm_fusable(zeros({0, 2}), {}, {}, {}, {}));
}

TEST(BatchNormFused, Errors) {
  Tensor x = values({1, 3}, 0.5, 0.1);
  EXPECT_THROW_MSG(batch_norm_fused(x, {}, {}, {}, {}, true, 0.1, 1e-5), ValueError,
                   "batch_norm: Expected more than 1 value per channel when training, got input "
                   "size [1, 3]");
  EXPECT_THROW_MSG(F::batch_norm(values({1, 3, 1, 1}, 0.5, 0.1), {}, {}, {}, {}, true), ValueError,
                   "Expected more than 1 value per channel", "[1, 3, 1, 1]");
  EXPECT_THROW_MSG(batch_norm_fused(values({2, 3}, 0.5, 0.1), {}, {}, {}, {}, false, 0.1, 1e-5),
                   ValueError, "running_mean and running_var must be defined");
  EXPECT_THROW_MSG(batch_norm_fused(values({2, 3}, 0.5, 0.1), {}, {}, ones({4}, DType::Float64), {},
                                    true, 0.1, 1e-5),
                   ValueError, "batch_norm: the fused kernel does not take input [2, 3] float64");
  // One value per channel is fine in evaluation.
  Tensor y = F::batch_norm(x, zeros({3}, DType::Float64), ones({3}, DType::Float64), {}, {}, false);
  expect_close(y, x / std::sqrt(1 + 1e-5), 1e-12, 1e-12, "eval with one sample");
}

// ---------------- the CPU kernels directly ----------------

namespace {

struct KernelOut {
  Tensor y, save_mean, save_invstd, dx, dw, db;
};

// Backend calls on x / dy / outputs of the given layouts (statistics in x's statistics dtype).
KernelOut kernel_run(const Tensor& x, const Tensor& dy, Layout out_layout) {
  Backend& be = backend(Device::cpu());
  const int64_t c = x.size(1);
  const TensorOptions s(batch_norm_stats_dtype(x.dtype()));
  KernelOut o;
  Tensor w = values({c}, 1.1, 0.4, 0.5, 1.0).to(s.dtype);
  Tensor b = values({c}, 0.3, 0.2).to(s.dtype);
  Tensor rm = zeros({c}, s), rv = ones({c}, s);
  o.y = laid_out(zeros(x.shape(), x.dtype()), out_layout);
  o.save_mean = empty({c}, s);
  o.save_invstd = empty({c}, s);
  be.batch_norm_forward(x, w, b, rm, rv, BatchNormArgs{true, 0.1, 1e-5}, o.y, o.save_mean,
                        o.save_invstd);
  o.dx = laid_out(zeros(x.shape(), x.dtype()), out_layout);
  o.dw = empty({c}, s);
  o.db = empty({c}, s);
  be.batch_norm_backward(x, dy, w, o.save_mean, o.save_invstd, o.dx, o.dw, o.db);
  return o;
}

void expect_bitwise(const KernelOut& a, const KernelOut& b, const std::string& what) {
  expect_close(a.y, b.y, 0, 0, what + ": y");
  expect_close(a.save_mean, b.save_mean, 0, 0, what + ": save_mean");
  expect_close(a.save_invstd, b.save_invstd, 0, 0, what + ": save_invstd");
  expect_close(a.dx, b.dx, 0, 0, what + ": dx");
  expect_close(a.dw, b.dw, 0, 0, what + ": dweight");
  expect_close(a.db, b.db, 0, 0, what + ": dbias");
}

}  // namespace

TEST(BatchNormKernel, AnyStridesGiveTheContiguousResults) {
  for (const Shape& shape : std::vector<Shape>{{5, 3}, {2, 3, 2, 4}}) {
    Tensor x = values(shape, 0.7, 0.2, 2.0, 0.3).to(DType::Float32);
    Tensor dy = values(shape, 0.3, 0.9).to(DType::Float32);
    const KernelOut want = kernel_run(x, dy, Layout::Contiguous);
    // Strided x and outputs; a broadcast (stride 0) gradient as sum().backward() gives.
    const KernelOut strided = kernel_run(laid_out(x, Layout::Strided), dy, Layout::Strided);
    expect_bitwise(strided, want, shape_str(shape) + " strided");
    Tensor ones_dy = ones({1}, DType::Float32).expand(shape);
    const KernelOut a = kernel_run(x, ones_dy, Layout::Contiguous);
    const KernelOut b = kernel_run(x, ones_dy.contiguous(), Layout::Contiguous);
    expect_bitwise(a, b, shape_str(shape) + " expanded dy");
    // d/dx of sum(y) is 0: every channel's gradient cancels.
    expect_close(a.dx, zeros(shape, DType::Float32), 1e-6, 0, "dx of sum");
  }
  // Channels-last walks rows of channels; its statistics equal the channel walk's to rounding.
  Tensor x = values({2, 3, 2, 4}, 0.7, 0.2, 2.0, 0.3).to(DType::Float32);
  Tensor dy = values({2, 3, 2, 4}, 0.3, 0.9).to(DType::Float32);
  const KernelOut nchw = kernel_run(x, dy, Layout::Contiguous);
  const KernelOut nhwc = kernel_run(laid_out(x, Layout::ChannelsLast),
                                    laid_out(dy, Layout::ChannelsLast), Layout::ChannelsLast);
  EXPECT_TRUE(is_contiguous(nhwc.y, MemoryFormat::ChannelsLast));
  expect_close(nhwc.y, nchw.y, 1e-6, 1e-6, "channels-last y");
  expect_close(nhwc.dx, nchw.dx, 1e-6, 1e-6, "channels-last dx");
  expect_close(nhwc.dw, nchw.dw, 1e-6, 1e-6, "channels-last dweight");
}

TEST(BatchNormKernel, ResultsDoNotDependOnTheThreadCount) {
  // Large enough for the parallel paths (>= 2^15 elements), in both walks; float64, whose sums
  // (unlike float32 values added in double) round differently in another order.
  const int threads = omp_get_max_threads();
  for (DType dtype : {DType::Float64, DType::Float32}) {
    for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
      Tensor x = laid_out(values({8, 16, 16, 17}, 0.37, 0.2, 3.0, 1.0).to(dtype), layout);
      Tensor dy = laid_out(values({8, 16, 16, 17}, 0.11, 0.5).to(dtype), layout);
      omp_set_num_threads(1);
      const KernelOut one = kernel_run(x, dy, layout);
      omp_set_num_threads(3);
      const KernelOut three = kernel_run(x, dy, layout);
      omp_set_num_threads(threads);
      expect_bitwise(one, three, layout_name(layout) + " " + dtype_name(dtype));
    }
  }
}

TEST(BatchNormKernel, ContractErrors) {
  Backend& be = backend(Device::cpu());
  Tensor x = zeros({4, 3}, DType::Float32);
  Tensor y = empty({4, 3}, DType::Float32);
  EXPECT_THROW_MSG(be.batch_norm_forward(x, {}, {}, {}, {}, BatchNormArgs{}, y,
                                         empty({3}, DType::Float64), empty({3}, DType::Float32)),
                   Error, "batch_norm: save_mean must be a contiguous float32 tensor of 3 elements",
                   "float64");
  EXPECT_THROW_MSG(
      be.batch_norm_forward(x, {}, {}, {}, {}, BatchNormArgs{false, 0.1, 1e-5}, y, {}, {}), Error,
      "evaluation needs running_mean and running_var");
  EXPECT_THROW_MSG(be.batch_norm_forward(x, {}, {}, {}, {}, BatchNormArgs{}, empty({4, 2}), {}, {}),
                   Error, "batch_norm: expected x [N, C, *] and y of its shape and dtype");
  EXPECT_THROW_MSG(be.batch_norm_backward(x, x, {}, {}, {}, y, {}, {}), Error,
                   "batch_norm_backward: needs the save_mean and save_invstd");
}
