// Fused optimizer steps (Backend::sgd_step / adam_step) against the composite updates they
// replace (the oracle), and the fused gradient norm of clip_grad_norm_ against a per-tensor
// composite. CPU: fused=true vs fused=false on the same parameters and gradients. GPU (skipped
// without a device): fused on CUDA vs fused on the CPU, one group of 200 tensors, bfloat16 and
// float16 parameters, the default (unset) choice on CUDA, and the CUDA gradient norm.
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "kiln/optim/optim.h"
#include "test_util.h"

namespace kiln::optim {
namespace {

using kiln::testing::cuda_available;
using kiln::testing::expect_close;

// Deterministic values of mixed signs and sizes, different for every seed.
Tensor values(const Shape& shape, int seed, DType dtype, Device device = Device::cpu()) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[size_t(i)] = std::sin(0.37 * double(i) + 1.3 * seed) * (1.0 + 0.25 * double(i % 7));
  return tensor(v, shape, TensorOptions(dtype)).to(device);
}

// Sizes with odd tails, an empty tensor, and one above the CPU kernel's OpenMP grain.
const std::vector<Shape> kShapes = {{3, 4}, {5}, {0}, {7, 3, 2}, {40003}, {1}};

std::vector<Tensor> make_params(DType dtype, Device device, const std::vector<Shape>& shapes) {
  std::vector<Tensor> params;
  for (size_t i = 0; i < shapes.size(); ++i)
    params.push_back(values(shapes[i], int(i), dtype, device).requires_grad_());
  return params;
}

// Gradients of step `step`; every fourth parameter (rotating) has none on a given step, so step
// counts differ between parameters and momentum buffers start late.
void set_grads(std::vector<Tensor>& params, int step) {
  for (size_t i = 0; i < params.size(); ++i) {
    if ((int(i) + step) % 4 == 3) {
      params[i].set_grad(Tensor());
    } else {
      params[i].set_grad(values(params[i].shape(), 100 + 10 * step + int(i), params[i].dtype(),
                                params[i].device()));
    }
  }
}

using Factory =
    std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>, std::optional<bool> fused)>;

struct Case {
  std::string name;
  Factory make;
};

std::vector<Case> cases() {
  auto sgd = [](SGDOptions o) {
    return [o](std::vector<Tensor> p, std::optional<bool> fused) mutable {
      o.fused = fused;
      return std::unique_ptr<Optimizer>(std::make_unique<SGD>(std::move(p), o));
    };
  };
  auto adam = [](AdamOptions o) {
    return [o](std::vector<Tensor> p, std::optional<bool> fused) mutable {
      o.fused = fused;
      return std::unique_ptr<Optimizer>(std::make_unique<Adam>(std::move(p), o));
    };
  };
  auto adamw = [](AdamWOptions o) {
    return [o](std::vector<Tensor> p, std::optional<bool> fused) mutable {
      o.fused = fused;
      return std::unique_ptr<Optimizer>(std::make_unique<AdamW>(std::move(p), o));
    };
  };
  return {
      {"SGD plain", sgd({.lr = 0.1})},
      {"SGD momentum", sgd({.lr = 0.1, .momentum = 0.9})},
      {"SGD dampening", sgd({.lr = 0.05, .momentum = 0.9, .dampening = 0.3})},
      {"SGD nesterov", sgd({.lr = 0.05, .momentum = 0.8, .nesterov = true})},
      {"SGD weight decay", sgd({.lr = 0.1, .momentum = 0.5, .weight_decay = 0.01})},
      {"SGD weight decay only", sgd({.lr = 0.1, .weight_decay = 0.2})},
      {"Adam", adam({.lr = 0.01})},
      {"Adam amsgrad wd",
       adam({.lr = 0.02, .betas = {0.8, 0.95}, .weight_decay = 0.1, .amsgrad = true})},
      {"AdamW", adamw({.lr = 0.01})},
      {"AdamW amsgrad", adamw({.lr = 0.03, .weight_decay = 0.05, .amsgrad = true})},
  };
}

double tolerance(DType dtype) {
  switch (dtype) {
    case DType::Float64:
      return 1e-14;
    case DType::Float32:
      return 1e-6;
    default:
      return 1e-2;  // bfloat16/float16: within one rounding of the stored value
  }
}

// The same state (keys, step counts and buffers) for the parameters of two optimizers.
void expect_same_state(Optimizer& a, const std::vector<Tensor>& pa, Optimizer& b,
                       const std::vector<Tensor>& pb, double tol, const std::string& what) {
  for (size_t i = 0; i < pa.size(); ++i) {
    const ParamState* sa = a.find_state(pa[i]);
    const ParamState* sb = b.find_state(pb[i]);
    ASSERT_EQ(sa == nullptr, sb == nullptr) << what << ": state of param " << i;
    if (!sa) continue;
    EXPECT_EQ(sa->step, sb->step) << what << ": step of param " << i;
    ASSERT_EQ(sa->buffers.size(), sb->buffers.size()) << what << ": buffers of param " << i;
    for (const auto& [name, t] : sa->buffers) {
      ASSERT_TRUE(sb->has(name)) << what << ": param " << i << " lacks " << name;
      expect_close(t.cpu(), sb->buffers.at(name).cpu(), tol, tol,
                   what + ": " + name + " of param " + std::to_string(i));
    }
  }
}

// Runs `c` on two copies of the parameters (device/fused a and b) for `steps` steps with the
// same gradients, comparing parameters and state after every step.
void run_pair(const Case& c, DType dtype, Device dev_a, std::optional<bool> fused_a, Device dev_b,
              std::optional<bool> fused_b, const std::vector<Shape>& shapes = kShapes,
              int steps = 10, double tol = -1) {
  SCOPED_TRACE(c.name + " " + dtype_name(dtype));
  std::vector<Tensor> pa = make_params(dtype, dev_a, shapes);
  std::vector<Tensor> pb = make_params(dtype, dev_b, shapes);
  auto a = c.make(pa, fused_a);
  auto b = c.make(pb, fused_b);
  if (tol < 0) tol = tolerance(dtype);
  for (int step = 0; step < steps; ++step) {
    set_grads(pa, step);
    set_grads(pb, step);
    a->step();
    b->step();
    const std::string what = "step " + std::to_string(step);
    for (size_t i = 0; i < pa.size(); ++i)
      expect_close(pa[i].detach().cpu(), pb[i].detach().cpu(), tol, tol,
                   what + ", param " + std::to_string(i));
    expect_same_state(*a, pa, *b, pb, tol, what);
  }
}

TEST(OptimFused, FusedEqualsCompositeOnCpu) {
  for (const Case& c : cases())
    for (DType dtype : {DType::Float32, DType::Float64})
      run_pair(c, dtype, Device::cpu(), true, Device::cpu(), false);
}

TEST(OptimFused, DefaultOnCpuIsTheComposite) {
  // bfloat16 tells the two apart: the composite rounds after every op, the fused step once.
  std::vector<Tensor> p_default = make_params(DType::BFloat16, Device::cpu(), kShapes);
  std::vector<Tensor> p_composite = make_params(DType::BFloat16, Device::cpu(), kShapes);
  Adam a(p_default, {.lr = 0.01});
  Adam b(p_composite, {.lr = 0.01, .fused = false});
  for (int step = 0; step < 3; ++step) {
    set_grads(p_default, step);
    set_grads(p_composite, step);
    a.step();
    b.step();
  }
  for (size_t i = 0; i < p_default.size(); ++i)
    expect_close(p_default[i].detach(), p_composite[i].detach(), 0, 0, std::to_string(i));
}

TEST(OptimFused, FusedBfloat16StaysCloseToTheComposite) {
  // The composite rounds to bfloat16 after every op, the fused step once per stored value: a
  // few units in the last place (2^-8 relative) apart after three steps.
  for (const Case& c : cases())
    run_pair(c, DType::BFloat16, Device::cpu(), true, Device::cpu(), false, kShapes, 3, 0.05);
}

TEST(OptimFused, IneligibleGroupsFallBackToTheComposite) {
  // Mixed dtypes in one group, and a non-contiguous parameter: fused=true runs the composite.
  auto mixed = [] {
    return std::vector<Tensor>{values({4, 3}, 1, DType::Float32).requires_grad_(),
                               values({5}, 2, DType::Float64).requires_grad_(),
                               transpose(values({3, 4}, 3, DType::Float64), 0, 1).requires_grad_()};
  };
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    std::vector<Tensor> pa = mixed(), pb = mixed();
    ASSERT_FALSE(pa[2].is_contiguous());
    auto a = c.make(pa, true);
    auto b = c.make(pb, false);
    for (int step = 0; step < 4; ++step) {
      set_grads(pa, step);
      set_grads(pb, step);
      a->step();
      b->step();
    }
    for (size_t i = 0; i < pa.size(); ++i)
      expect_close(pa[i].detach(), pb[i].detach(), 0, 0, std::to_string(i));
  }
}

TEST(OptimFused, StridedGradientsAreRead) {
  std::vector<Tensor> pa = {values({3, 4}, 0, DType::Float64).requires_grad_()};
  std::vector<Tensor> pb = {values({3, 4}, 0, DType::Float64).requires_grad_()};
  SGD a(pa, {.lr = 0.1, .momentum = 0.9, .fused = true});
  SGD b(pb, {.lr = 0.1, .momentum = 0.9, .fused = false});
  for (int step = 0; step < 3; ++step) {
    Tensor g = transpose(values({4, 3}, 50 + step, DType::Float64), 0, 1);
    ASSERT_FALSE(g.is_contiguous());
    pa[0].set_grad(g);
    pb[0].set_grad(g.contiguous());
    a.step();
    b.step();
  }
  expect_close(pa[0].detach(), pb[0].detach(), 1e-15, 1e-15);
}

TEST(OptimFused, StepBumpsTheVersionCounters) {
  std::vector<Tensor> p = {values({6}, 0, DType::Float32).requires_grad_()};
  Adam opt(p, {.lr = 0.01, .fused = true});
  p[0].set_grad(values({6}, 9, DType::Float32));
  const uint64_t before = p[0].version();
  opt.step();
  EXPECT_GT(p[0].version(), before);
}

TEST(OptimFused, StateDictRoundTripEqualsTheComposite) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const DType dtype = DType::Float64;
    std::vector<Tensor> pf = make_params(dtype, Device::cpu(), kShapes);
    std::vector<Tensor> pc = make_params(dtype, Device::cpu(), kShapes);
    auto fused = c.make(pf, true);
    auto composite = c.make(pc, false);
    for (int step = 0; step < 5; ++step) {
      set_grads(pf, step);
      set_grads(pc, step);
      fused->step();
      composite->step();
    }
    const StateDict sf = fused->state_dict(), sc = composite->state_dict();
    ASSERT_EQ(sf.keys(), sc.keys());
    for (const std::string& key : sf.keys())
      expect_close(sf.at(key), sc.at(key), 1e-14, 1e-14, key);
    auto meta_f = sf.metadata(), meta_c = sc.metadata();
    EXPECT_EQ(meta_f.at("param_groups.0.fused"), "1");
    EXPECT_EQ(meta_c.at("param_groups.0.fused"), "0");
    meta_f.erase("param_groups.0.fused");
    meta_c.erase("param_groups.0.fused");
    EXPECT_EQ(meta_f, meta_c);

    // The fused run's state continues in a composite optimizer (without the "fused" entry, as
    // a state dict saved before the option existed) exactly as the composite run goes on.
    std::vector<Tensor> resumed;
    for (const Tensor& p : pf) resumed.push_back(p.detach().clone().requires_grad_());
    auto next = c.make(resumed, false);
    StateDict old_format = sf;
    old_format.metadata().erase("param_groups.0.fused");
    next->load_state_dict(old_format);
    EXPECT_EQ(next->param_groups()[0].options.get("fused"), 0) << "kept its own choice";
    for (int step = 5; step < 10; ++step) {
      set_grads(resumed, step);
      set_grads(pc, step);
      next->step();
      composite->step();
    }
    for (size_t i = 0; i < pc.size(); ++i)
      expect_close(resumed[i].detach(), pc[i].detach(), 1e-14, 1e-14, std::to_string(i));
  }
}

TEST(OptimFused, TheOptionIsSavedAndRestored) {
  std::vector<Tensor> p = {values({2}, 0, DType::Float32).requires_grad_()};
  SGD unset(p, {.lr = 0.1});
  EXPECT_TRUE(std::isnan(unset.param_groups()[0].options.get("fused")));
  const StateDict sd = unset.state_dict();
  EXPECT_EQ(sd.metadata().at("param_groups.0.fused"), "nan");
  std::vector<Tensor> q = {values({2}, 0, DType::Float32).requires_grad_()};
  SGD forced(q, {.lr = 0.1, .fused = true});
  EXPECT_EQ(forced.param_groups()[0].options.get("fused"), 1);
  forced.load_state_dict(sd);
  EXPECT_TRUE(std::isnan(forced.param_groups()[0].options.get("fused")));
}

TEST(OptimFused, Errors) {
  std::vector<Tensor> p = {values({3}, 0, DType::Float32).requires_grad_()};
  EXPECT_THROW_MSG(SGD(std::vector<ParamGroup>{{p, {{"fused", 2}}}}, {.lr = 0.1}), ValueError,
                   "SGD", "fused", "2");
  EXPECT_THROW_MSG(Adam(std::vector<ParamGroup>{{p, {{"fused", -1}}}}), ValueError, "Adam",
                   "fused");

  Backend& cpu = backend(Device::cpu());
  const Tensor a = values({3}, 0, DType::Float32), b = values({3}, 1, DType::Float32);
  const Tensor wide = values({4}, 1, DType::Float32), dbl = values({3}, 1, DType::Float64);
  const Tensor strided = transpose(values({2, 3}, 1, DType::Float32), 0, 1);
  const Tensor ints = zeros({3}, TensorOptions(DType::Int64));
  const SgdStepArgs sgd{.lr = 0.1, .momentum = 0.9};
  EXPECT_THROW_MSG(cpu.sgd_step({a}, {}, {b}, {0}, sgd), ValueError, "sgd_step", "1 params",
                   "0 grads");
  EXPECT_THROW_MSG(cpu.sgd_step({a}, {wide}, {b}, {0}, sgd), ValueError, "sgd_step", "grads[0]",
                   "[4]");
  EXPECT_THROW_MSG(cpu.sgd_step({a}, {dbl}, {b}, {0}, sgd), TypeError, "sgd_step", "float64");
  EXPECT_THROW_MSG(cpu.sgd_step({a}, {b}, {b}, {}, sgd), ValueError, "sgd_step", "first_step");
  EXPECT_NO_THROW(cpu.sgd_step({a.clone()}, {b}, {}, {}, SgdStepArgs{.lr = 0.1}));
  EXPECT_NO_THROW(cpu.sgd_step({}, {}, {}, {}, sgd));  // nothing to do
  EXPECT_THROW_MSG(cpu.sgd_step({a}, {b}, {b}, {0}, SgdStepArgs{.lr = 0.1}), ValueError, "sgd_step",
                   "momentum_buffers must be empty");
  EXPECT_THROW_MSG(cpu.sgd_step({ints}, {ints}, {}, {}, SgdStepArgs{.lr = 0.1}), TypeError,
                   "sgd_step", "floating");
  EXPECT_THROW_MSG(cpu.sgd_step({strided.contiguous()}, {strided}, {}, {}, SgdStepArgs{.lr = 1}),
                   ValueError, "sgd_step", "not contiguous");

  const AdamStepArgs adam{.lr = 0.1, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8};
  EXPECT_THROW_MSG(cpu.adam_step({a}, {b}, {b}, {b}, {}, {0}, adam), ValueError, "adam_step",
                   "steps[0] is 0");
  EXPECT_THROW_MSG(cpu.adam_step({a}, {b}, {b}, {b}, {b}, {1}, adam), ValueError, "adam_step",
                   "max_exp_avg_sqs must be empty");
  EXPECT_THROW_MSG(cpu.adam_step({a}, {b}, {b}, {}, {}, {1}, adam), ValueError, "adam_step",
                   "exp_avg_sqs");
  EXPECT_THROW_MSG(cpu.adam_step({a}, {b}, {b}, {b}, {}, {1, 2}, adam), ValueError, "adam_step",
                   "step counts");
}

// ---------------- clip_grad_norm_ ----------------

// The per-tensor composite: each gradient's norm, combined in double (the former
// implementation).
double composite_norm(const std::vector<Tensor>& params, double p) {
  double total = 0;
  for (const Tensor& t : params) {
    if (!t.grad().defined() || t.grad().numel() == 0) continue;
    const double n = norm(t.grad().detach().to(DType::Float64), p).item();
    total = std::isinf(p) ? (std::isnan(n) || std::isnan(total) ? NAN : std::max(total, n))
                          : total + std::pow(n, p);
  }
  return std::isinf(p) ? total : std::pow(total, 1.0 / p);
}

std::vector<Tensor> clip_params(Device device) {
  std::vector<Tensor> params;
  int seed = 0;
  for (DType dtype : {DType::Float32, DType::Float64, DType::BFloat16}) {
    for (const Shape& shape : std::vector<Shape>{{3, 4}, {0}, {40003}, {5}}) {
      Tensor p = values(shape, seed, dtype, device).requires_grad_();
      p.set_grad(values(shape, 200 + seed, dtype, device));
      params.push_back(p);
      ++seed;
    }
  }
  params.push_back(values({2}, 99, DType::Float32, device).requires_grad_());  // no gradient
  return params;
}

void check_clip(Device device) {
  const double inf = std::numeric_limits<double>::infinity();
  for (double p : {1.0, 2.0, 3.0, inf}) {
    SCOPED_TRACE("p = " + std::to_string(p));
    std::vector<Tensor> params = clip_params(device);
    const double expected = composite_norm(params, p);
    std::vector<Tensor> before;
    for (const Tensor& t : params)
      before.push_back(t.grad().defined() ? t.grad().detach().clone() : Tensor());
    const double max_norm = expected / 4;
    const double got = clip_grad_norm_(params, max_norm, p, true);
    EXPECT_NEAR(got, expected, 1e-12 * expected);
    const double coef = max_norm / (got + 1e-6);
    for (size_t i = 0; i < params.size(); ++i) {
      if (!before[i].defined()) continue;
      expect_close(params[i].grad().cpu().to(DType::Float64),
                   (before[i].cpu().to(DType::Float64) * coef), 1e-2, 1e-2, std::to_string(i));
    }
  }
}

TEST(ClipGradFused, MatchesThePerTensorComposite) { check_clip(Device::cpu()); }

TEST(ClipGradFused, NonFinite) {
  for (double p : {2.0, std::numeric_limits<double>::infinity()}) {
    for (double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
      std::vector<Tensor> params = clip_params(Device::cpu());
      ASSERT_EQ(params[7].shape(), Shape{5});
      params[7].set_grad(tensor({1.0, bad, 2.0, 0.5, -1.0}, {5}, TensorOptions(DType::Float64)));
      EXPECT_THROW_MSG(clip_grad_norm_(params, 1.0, p, true), Error, "clip_grad_norm_",
                       "non-finite");
      const double total = clip_grad_norm_(params, 1.0, p, false);
      EXPECT_EQ(std::isnan(total), std::isnan(bad));  // an infinity stays one, even for p = 2
      EXPECT_FALSE(std::isfinite(total));
    }
  }
}

// ---------------- CUDA ----------------

#define SKIP_WITHOUT_CUDA() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: fused CUDA optimizer tests skipped"

TEST(OptimFusedCuda, FusedCudaEqualsFusedCpu) {
  SKIP_WITHOUT_CUDA();
  for (const Case& c : cases())
    for (DType dtype : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16})
      run_pair(c, dtype, Device::cuda(), true, Device::cpu(), true);
}

TEST(OptimFusedCuda, DefaultOnCudaIsFused) {
  SKIP_WITHOUT_CUDA();
  // In bfloat16 the fused step (rounding once) differs from the composite (rounding every op),
  // so equality with the CPU's fused step shows which one ran. Exact equality: both devices run
  // the same operations (cpu/optimizer_step.h) with correctly rounded, uncontracted arithmetic.
  for (const Case& c : cases())
    run_pair(c, DType::BFloat16, Device::cuda(), std::nullopt, Device::cpu(), true, kShapes, 3,
             0.0);
}

TEST(OptimFusedCuda, FusedCudaEqualsCompositeCuda) {
  SKIP_WITHOUT_CUDA();
  for (const Case& c : cases())
    for (DType dtype : {DType::Float32, DType::Float64})
      run_pair(c, dtype, Device::cuda(), true, Device::cuda(), false);
}

TEST(OptimFusedCuda, TwoHundredTensorsInOneGroup) {
  SKIP_WITHOUT_CUDA();
  // Sizes from 1 to beyond one chunk (16384 elements) with every tail length; a few views at
  // an odd offset take the unaligned path.
  std::vector<Shape> shapes;
  for (int i = 0; i < 200; ++i)
    shapes.push_back({i % 50 == 7 ? int64_t(40000 + i) : int64_t(1 + (i * 7919) % 3000)});
  for (const Case& c : cases()) {
    for (DType dtype : {DType::Float32, DType::Float64}) {
      run_pair(c, dtype, Device::cuda(), true, Device::cpu(), true, shapes, 3);
    }
  }
  for (DType dtype : {DType::Float32, DType::BFloat16}) {
    SCOPED_TRACE(std::string("unaligned ") + dtype_name(dtype));
    auto make = [&](Device d) {
      std::vector<Tensor> ps;
      for (int i = 0; i < 20; ++i)
        ps.push_back(values({int64_t(33 + i)}, i, dtype, d).narrow(0, 1, 31 + i).requires_grad_());
      return ps;
    };
    std::vector<Tensor> pa = make(Device::cuda()), pb = make(Device::cpu());
    Adam a(pa, {.lr = 0.01, .amsgrad = true, .fused = true});
    Adam b(pb, {.lr = 0.01, .amsgrad = true, .fused = true});
    for (int step = 0; step < 3; ++step) {
      set_grads(pa, step);
      set_grads(pb, step);
      a.step();
      b.step();
    }
    for (size_t i = 0; i < pa.size(); ++i)
      expect_close(pa[i].detach().cpu(), pb[i].detach(), tolerance(dtype), tolerance(dtype));
  }
}

TEST(ClipGradFusedCuda, MatchesThePerTensorComposite) {
  SKIP_WITHOUT_CUDA();
  check_clip(Device::cuda());
  // Gradients on both devices: one group per (device, dtype).
  std::vector<Tensor> mixed = clip_params(Device::cuda());
  for (Tensor& t : clip_params(Device::cpu())) mixed.push_back(t);
  const double expected = composite_norm(mixed, 2.0);
  EXPECT_NEAR(clip_grad_norm_(mixed, 1e30, 2.0), expected, 1e-12 * expected);
}

}  // namespace
}  // namespace kiln::optim
