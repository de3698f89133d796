// Optimizers: every update rule against a reference written in plain doubles from the formula
// (independent of the library), over several steps and for every option combination;
// the references were checked once against PyTorch 1.13 (Debian's python3-torch, 1.13.0a0) on
// the same gradient sequence, float64: they agree to 6e-17 for SGD (momentum, dampening,
// nesterov, weight decay), Adagrad (all options), RMSprop (centered, momentum, weight decay),
// Adam (amsgrad, weight decay) and AdamW (amsgrad, weight decay);
// parameter groups; state dicts (a saved and reloaded run continues bit-identically); gradient
// clipping.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>

#include "kiln/optim/optim.h"
#include "test_util.h"

namespace kiln::optim {
namespace {

using kiln::testing::expect_values;
using Vec = std::vector<double>;
// One reference step: updates p in place from gradient g (t counts from 1).
using RefStep = std::function<void(Vec& p, const Vec& g, int t)>;

const Vec kInit = {0.5, -1.2, 2.0, 0.0, -0.3};

// A deterministic gradient sequence with mixed signs and sizes; `decaying` shrinks it over
// time, so that Adam's second moment falls and AMSGrad's running maximum matters.
Vec grad_at(int t, bool decaying = false) {
  Vec g(kInit.size());
  for (size_t i = 0; i < g.size(); ++i) {
    g[i] = std::sin(0.9 * double(i) + 1.7 * t) * (1.0 + 0.3 * double(i));
    if (decaying) g[i] *= 3.0 / t;
  }
  return g;
}

Tensor make_param(DType dtype = DType::Float64) {
  return tensor(kInit, {int64_t(kInit.size())}, dtype).requires_grad_();
}

// Steps `opt` (over the one parameter p) and the reference side by side with the same
// gradients, comparing the parameter after every step.
void check_rule(Optimizer& opt, Tensor& p, RefStep ref, const std::string& what,
                bool decaying = false, int steps = 6, double tol = 1e-12) {
  SCOPED_TRACE(what);
  Vec expected = kInit;
  for (int t = 1; t <= steps; ++t) {
    Vec g = grad_at(t, decaying);
    p.set_grad(tensor(g, {int64_t(g.size())}, p.dtype()));
    opt.step();
    ref(expected, g, t);
    SCOPED_TRACE("step " + std::to_string(t));
    expect_values(p, {int64_t(kInit.size())}, expected, tol, tol);
  }
}

// ---------------- references (plain doubles, from the formulas in the headers) ----------------

RefStep sgd_ref(double lr, double momentum, double dampening, double wd, bool nesterov) {
  auto buf = std::make_shared<Vec>();
  return [=](Vec& p, const Vec& g, int t) {
    if (buf->empty()) buf->resize(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + wd * p[i];
      if (momentum != 0) {
        (*buf)[i] = t == 1 ? d : momentum * (*buf)[i] + (1 - dampening) * d;
        d = nesterov ? d + momentum * (*buf)[i] : (*buf)[i];
      }
      p[i] -= lr * d;
    }
  };
}

RefStep adagrad_ref(double lr, double lr_decay, double wd, double init_acc, double eps) {
  auto sum = std::make_shared<Vec>();
  return [=](Vec& p, const Vec& g, int t) {
    if (sum->empty()) sum->assign(p.size(), init_acc);
    const double clr = lr / (1 + (t - 1) * lr_decay);
    for (size_t i = 0; i < p.size(); ++i) {
      const double d = g[i] + wd * p[i];
      (*sum)[i] += d * d;
      p[i] -= clr * d / (std::sqrt((*sum)[i]) + eps);
    }
  };
}

RefStep rmsprop_ref(double lr, double alpha, double eps, double wd, double momentum,
                    bool centered) {
  auto v = std::make_shared<Vec>(), m = std::make_shared<Vec>(), b = std::make_shared<Vec>();
  return [=](Vec& p, const Vec& g, int) {
    if (v->empty()) v->resize(p.size()), m->resize(p.size()), b->resize(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      const double d = g[i] + wd * p[i];
      (*v)[i] = alpha * (*v)[i] + (1 - alpha) * d * d;
      double avg;
      if (centered) {
        (*m)[i] = alpha * (*m)[i] + (1 - alpha) * d;
        avg = std::sqrt((*v)[i] - (*m)[i] * (*m)[i]) + eps;
      } else {
        avg = std::sqrt((*v)[i]) + eps;
      }
      if (momentum > 0) {
        (*b)[i] = momentum * (*b)[i] + d / avg;
        p[i] -= lr * (*b)[i];
      } else {
        p[i] -= lr * d / avg;
      }
    }
  };
}

RefStep adam_ref(double lr, double beta1, double beta2, double eps, double wd, bool amsgrad,
                 bool decoupled) {
  auto m = std::make_shared<Vec>(), v = std::make_shared<Vec>(), vmax = std::make_shared<Vec>();
  return [=](Vec& p, const Vec& g, int t) {
    if (m->empty()) m->resize(p.size()), v->resize(p.size()), vmax->resize(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      double d = g[i];
      if (decoupled) {
        p[i] *= 1 - lr * wd;
      } else {
        d += wd * p[i];
      }
      (*m)[i] = beta1 * (*m)[i] + (1 - beta1) * d;
      (*v)[i] = beta2 * (*v)[i] + (1 - beta2) * d * d;
      (*vmax)[i] = std::max((*vmax)[i], (*v)[i]);
      const double second = amsgrad ? (*vmax)[i] : (*v)[i];
      const double m_hat = (*m)[i] / (1 - std::pow(beta1, t));
      const double v_hat = second / (1 - std::pow(beta2, t));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  };
}

// ---------------- update rules ----------------

TEST(Optim, SGDEveryOptionCombination) {
  struct Case {
    SGDOptions o;
    const char* what;
  };
  const Case cases[] = {
      {{.lr = 0.1}, "plain"},
      {{.lr = 0.1, .momentum = 0.9}, "momentum"},
      {{.lr = 0.05, .momentum = 0.9, .dampening = 0.3}, "momentum + dampening"},
      {{.lr = 0.1, .momentum = 0.9, .nesterov = true}, "nesterov"},
      {{.lr = 0.1, .weight_decay = 0.05}, "weight decay"},
      {{.lr = 0.1, .momentum = 0.8, .dampening = 0.1, .weight_decay = 0.05},
       "momentum + dampening + weight decay"},
      {{.lr = 0.02, .momentum = 0.7, .weight_decay = 0.1, .nesterov = true},
       "nesterov + weight decay"},
  };
  for (const Case& c : cases) {
    Tensor p = make_param();
    SGD opt({p}, c.o);
    check_rule(opt, p, sgd_ref(c.o.lr, c.o.momentum, c.o.dampening, c.o.weight_decay, c.o.nesterov),
               c.what);
  }
}

TEST(Optim, SGDMomentumBufferStartsAtTheFirstGradient) {
  Tensor p = make_param();
  SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  Vec g = grad_at(1);
  p.set_grad(tensor(g, {5}, DType::Float64));
  opt.step();
  // Not (1 - dampening) * g: PyTorch copies the first gradient undamped.
  expect_values(opt.state(p).at("momentum_buffer"), {5}, g, 1e-15);
}

TEST(Optim, AdagradEveryOption) {
  struct Case {
    AdagradOptions o;
    const char* what;
  };
  const Case cases[] = {
      {{.lr = 0.1}, "plain"},
      {{.lr = 0.1, .lr_decay = 0.05}, "lr_decay"},
      {{.lr = 0.1, .weight_decay = 0.1}, "weight decay"},
      {{.lr = 0.1, .initial_accumulator_value = 0.5, .eps = 1e-3}, "initial accumulator + eps"},
      {{.lr = 0.2,
        .lr_decay = 0.1,
        .weight_decay = 0.05,
        .initial_accumulator_value = 0.1,
        .eps = 1e-2},
       "all"},
  };
  for (const Case& c : cases) {
    Tensor p = make_param();
    Adagrad opt({p}, c.o);
    check_rule(
        opt, p,
        adagrad_ref(c.o.lr, c.o.lr_decay, c.o.weight_decay, c.o.initial_accumulator_value, c.o.eps),
        c.what);
  }
}

TEST(Optim, AdagradStateIsCreatedWithTheGroup) {
  Tensor p = make_param();
  Adagrad opt({p}, {.initial_accumulator_value = 0.25});
  expect_values(opt.state(p).at("sum"), {5}, Vec(5, 0.25), 0);
  EXPECT_EQ(opt.state(p).step, 0);
}

TEST(Optim, RMSpropEveryOptionCombination) {
  struct Case {
    RMSpropOptions o;
    const char* what;
  };
  const Case cases[] = {
      {{.lr = 0.01}, "plain"},
      {{.lr = 0.01, .alpha = 0.9, .eps = 1e-4}, "alpha + eps"},
      {{.lr = 0.01, .weight_decay = 0.1}, "weight decay"},
      {{.lr = 0.01, .momentum = 0.9}, "momentum"},
      {{.lr = 0.01, .centered = true}, "centered"},
      {{.lr = 0.01, .alpha = 0.95, .weight_decay = 0.05, .momentum = 0.5, .centered = true},
       "centered + momentum + weight decay"},
  };
  for (const Case& c : cases) {
    Tensor p = make_param();
    RMSprop opt({p}, c.o);
    check_rule(
        opt, p,
        rmsprop_ref(c.o.lr, c.o.alpha, c.o.eps, c.o.weight_decay, c.o.momentum, c.o.centered),
        c.what);
  }
}

TEST(Optim, AdamEveryOptionCombination) {
  struct Case {
    AdamOptions o;
    bool decaying;
    const char* what;
  };
  const Case cases[] = {
      {{.lr = 0.01}, false, "plain"},
      {{.lr = 0.05, .betas = {0.8, 0.9}, .eps = 1e-6}, false, "betas + eps"},
      {{.lr = 0.01, .weight_decay = 0.1}, false, "L2 weight decay"},
      {{.lr = 0.01, .betas = {0.8, 0.9}, .amsgrad = true}, true, "amsgrad"},
      {{.lr = 0.01, .betas = {0.8, 0.9}, .weight_decay = 0.2, .amsgrad = true},
       true,
       "amsgrad + weight decay"},
  };
  for (const Case& c : cases) {
    Tensor p = make_param();
    Adam opt({p}, c.o);
    check_rule(opt, p,
               adam_ref(c.o.lr, c.o.betas.first, c.o.betas.second, c.o.eps, c.o.weight_decay,
                        c.o.amsgrad, false),
               c.what, c.decaying);
  }
}

TEST(Optim, AMSGradDiffersFromAdamOnShrinkingGradients) {
  // Guards the amsgrad case above: with these gradients the running maximum changes the result.
  Vec a = kInit, b = kInit;
  RefStep plain = adam_ref(0.01, 0.8, 0.9, 1e-8, 0, false, false);
  RefStep ams = adam_ref(0.01, 0.8, 0.9, 1e-8, 0, true, false);
  for (int t = 1; t <= 6; ++t) plain(a, grad_at(t, true), t), ams(b, grad_at(t, true), t);
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
  EXPECT_GT(diff, 1e-4);
}

TEST(Optim, AdamWDecoupledWeightDecay) {
  struct Case {
    AdamWOptions o;
    bool decaying;
    const char* what;
  };
  const Case cases[] = {
      {{.lr = 0.01}, false, "default weight decay 1e-2"},
      {{.lr = 0.05, .weight_decay = 0.3}, false, "weight decay 0.3"},
      {{.lr = 0.01, .betas = {0.8, 0.9}, .weight_decay = 0.2, .amsgrad = true},
       true,
       "amsgrad + weight decay"},
      {{.lr = 0.01, .weight_decay = 0}, false, "no weight decay"},
  };
  for (const Case& c : cases) {
    Tensor p = make_param();
    AdamW opt({p}, c.o);
    check_rule(opt, p,
               adam_ref(c.o.lr, c.o.betas.first, c.o.betas.second, c.o.eps, c.o.weight_decay,
                        c.o.amsgrad, true),
               c.what, c.decaying);
  }
  // Decoupled decay is not L2: with the same weight decay, Adam and AdamW differ.
  Tensor p = make_param(), q = make_param();
  Adam adam({p}, {.lr = 0.05, .weight_decay = 0.3});
  AdamW adamw({q}, {.lr = 0.05, .weight_decay = 0.3});
  p.set_grad(tensor(grad_at(1), {5}, DType::Float64));
  q.set_grad(tensor(grad_at(1), {5}, DType::Float64));
  adam.step();
  adamw.step();
  EXPECT_FALSE(allclose(p, q, 1e-6, 1e-6));
}

TEST(Optim, Float32ParametersFollowTheReference) {
  Tensor p = make_param(DType::Float32);
  Adam opt({p}, {.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
  check_rule(opt, p, adam_ref(0.01, 0.9, 0.999, 1e-8, 0.1, true, false), "Adam float32", true, 6,
             2e-6);
  EXPECT_EQ(p.dtype(), DType::Float32);
  EXPECT_EQ(opt.state(p).at("exp_avg").dtype(), DType::Float32);
}

TEST(Optim, GradientsFromBackward) {
  // loss = sum(w * (p - target)^2): gradient 2 w (p - target), fed to the reference.
  const Vec target = {1, 2, 3, 4, 5}, w = {1, 0.5, 2, 1, 0.1};
  Tensor p = make_param();
  Tensor tt = tensor(target, {5}, DType::Float64), tw = tensor(w, {5}, DType::Float64);
  RMSprop opt({p}, {.lr = 0.01, .momentum = 0.9, .centered = true});
  RefStep ref = rmsprop_ref(0.01, 0.99, 1e-8, 0, 0.9, true);
  Vec expected = kInit;
  for (int t = 1; t <= 5; ++t) {
    opt.zero_grad();
    Tensor loss = sum(tw * square(p - tt));
    loss.backward();
    Vec g(5);
    for (size_t i = 0; i < 5; ++i) g[i] = 2 * w[i] * (expected[i] - target[i]);
    opt.step();
    ref(expected, g, t);
    expect_values(p, {5}, expected, 1e-12);
    EXPECT_FALSE(p.grad_fn()) << "the update must not record history";
    EXPECT_TRUE(p.is_leaf());
  }
}

TEST(Optim, ParametersWithoutGradientsAreSkipped) {
  Tensor a = make_param(), b = make_param();
  Adam opt({a, b}, {.lr = 0.1});
  a.set_grad(tensor(grad_at(1), {5}, DType::Float64));
  opt.step();
  EXPECT_FALSE(equal(a, make_param()));
  EXPECT_TRUE(equal(b, make_param())) << "b has no gradient and must not move";
  EXPECT_EQ(opt.find_state(b), nullptr) << "no state for a parameter never stepped";
  EXPECT_EQ(opt.state(a).step, 1);
}

TEST(Optim, StepWithClosureReturnsTheLoss) {
  Tensor p = make_param();
  SGD opt({p}, {.lr = 0.1});
  int calls = 0;
  Tensor loss = opt.step([&] {
    ++calls;
    opt.zero_grad();
    Tensor l = sum(square(p));
    l.backward();
    return l;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_NEAR(loss.item(), 0.25 + 1.44 + 4 + 0 + 0.09, 1e-12);
  Vec expected = kInit;
  for (double& v : expected) v -= 0.1 * 2 * v;
  expect_values(p, {5}, expected, 1e-12);
}

TEST(Optim, ZeroGrad) {
  Tensor p = make_param();
  SGD opt({p}, {.lr = 0.1});
  p.set_grad(ones({5}, DType::Float64));
  opt.zero_grad();  // zeros by default, as in PyTorch 1.13
  ASSERT_TRUE(p.grad().defined());
  expect_values(p.grad(), {5}, Vec(5, 0.0), 0);
  opt.zero_grad(/*set_to_none=*/true);
  EXPECT_FALSE(p.grad().defined());
}

// ---------------- parameter groups ----------------

TEST(Optim, ParamGroupsHaveTheirOwnOptions) {
  Tensor a = make_param(), b = make_param(), c = make_param();
  std::vector<ParamGroup> groups = {{{a}, {}}, {{b}, {{"lr", 0.01}, {"nesterov", 1}}}};
  SGD opt(groups, {.lr = 0.1, .momentum = 0.9});
  ASSERT_EQ(opt.param_groups().size(), 2u);
  EXPECT_EQ(opt.param_groups()[0].options.lr(), 0.1);
  EXPECT_EQ(opt.param_groups()[1].options.lr(), 0.01);
  EXPECT_EQ(opt.param_groups()[1].options.get("momentum"), 0.9) << "filled from the defaults";
  EXPECT_TRUE(opt.param_groups()[1].options.flag("nesterov"));
  EXPECT_FALSE(opt.param_groups()[0].options.flag("nesterov"));
  opt.add_param_group({{c}, {{"momentum", 0}, {"weight_decay", 0.1}}});
  ASSERT_EQ(opt.param_groups().size(), 3u);

  RefStep ra = sgd_ref(0.1, 0.9, 0, 0, false), rb = sgd_ref(0.01, 0.9, 0, 0, true),
          rc = sgd_ref(0.1, 0, 0, 0.1, false);
  Vec ea = kInit, eb = kInit, ec = kInit;
  for (int t = 1; t <= 4; ++t) {
    Vec g = grad_at(t);
    for (Tensor* p : {&a, &b, &c}) p->set_grad(tensor(g, {5}, DType::Float64));
    opt.step();
    ra(ea, g, t), rb(eb, g, t), rc(ec, g, t);
    expect_values(a, {5}, ea, 1e-12);
    expect_values(b, {5}, eb, 1e-12);
    expect_values(c, {5}, ec, 1e-12);
  }
  // Changing a group's lr (what schedulers do) takes effect on the next step.
  opt.param_groups()[2].options.set_lr(0.0);
  Vec before = c.to_vector();
  opt.step();
  EXPECT_EQ(c.to_vector(), before);
}

TEST(Optim, ConstructionErrors) {
  Tensor p = make_param();
  EXPECT_THROW_MSG(SGD({p}, {}), ValueError, "SGD: the learning rate is required");
  EXPECT_THROW_MSG(SGD({p}, {.lr = -1}), ValueError, "invalid learning rate -1");
  EXPECT_THROW_MSG(SGD({p}, {.lr = 0.1, .nesterov = true}), ValueError,
                   "Nesterov momentum requires a momentum and zero dampening");
  EXPECT_THROW_MSG(SGD({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                   ValueError, "Nesterov");
  EXPECT_THROW_MSG(Adam(std::vector<Tensor>{}), ValueError, "Adam: got an empty parameter list");
  EXPECT_THROW_MSG(Adam({p}, {.betas = {0.9, 1.0}}), ValueError, "invalid beta2");
  EXPECT_THROW_MSG(AdamW({p}, {.eps = -1}), ValueError, "AdamW: invalid epsilon");
  EXPECT_THROW_MSG(Adagrad({p}, {.lr_decay = -0.1}), ValueError, "invalid lr_decay");
  EXPECT_THROW_MSG(RMSprop({p}, {.alpha = -0.5}), ValueError, "invalid alpha");
  EXPECT_THROW_MSG(Adam({p, p}), ValueError, "more than once");
  Tensor non_leaf = p * 2;
  EXPECT_THROW_MSG(Adam({non_leaf}), ValueError, "non-leaf");

  Adam opt({p});
  EXPECT_THROW_MSG(opt.add_param_group({{make_param()}, {{"momentum", 0.9}}}), ValueError,
                   "Adam: unknown option 'momentum'", "beta1");
  EXPECT_THROW_MSG(opt.add_param_group({{p}}), ValueError, "more than once");
  EXPECT_EQ(opt.param_groups().size(), 1u) << "a refused group is not added";
}

// ---------------- state dicts ----------------

TEST(Optim, StateDictLayout) {
  Tensor a = make_param(), b = make_param(), c = make_param();
  std::vector<ParamGroup> groups = {{{a, b}, {}}, {{c}, {{"lr", 0.01}}}};
  Adam opt(groups, {.lr = 0.001});
  a.set_grad(ones({5}, DType::Float64));
  b.set_grad(ones({5}, DType::Float64));
  opt.step();
  opt.step();
  StateDict sd = opt.state_dict();
  EXPECT_EQ(sd.keys(),
            (std::vector<std::string>{"state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step",
                                      "state.1.exp_avg", "state.1.exp_avg_sq", "state.1.step"}));
  const Tensor& step = sd.at("state.1.step");
  EXPECT_EQ(step.dim(), 0);
  EXPECT_EQ(step.dtype(), DType::Float32);  // as PyTorch 1.13
  EXPECT_EQ(step.item(), 2.0);
  // exp_avg after two steps of gradient 1: 0.1 + 0.9 * 0.1 = 0.19.
  expect_values(sd.at("state.0.exp_avg"), {5}, Vec(5, 0.19), 1e-15);

  const auto& meta = sd.metadata();
  EXPECT_EQ(meta.at("optimizer"), "Adam");
  EXPECT_EQ(meta.at("param_groups.0.lr"), "0.001");
  EXPECT_EQ(meta.at("param_groups.1.lr"), "0.01");
  EXPECT_EQ(meta.at("param_groups.0.beta1"), "0.90000000000000002");  // %.17g
  EXPECT_EQ(meta.at("param_groups.0.beta2"), "0.999");
  EXPECT_EQ(meta.at("param_groups.0.eps"), "1e-08");
  EXPECT_EQ(meta.at("param_groups.0.amsgrad"), "false");
  EXPECT_EQ(meta.at("param_groups.0.params"), "0,1");
  EXPECT_EQ(meta.at("param_groups.1.params"), "2");

  // A snapshot: stepping on does not change what was saved.
  opt.step();
  EXPECT_EQ(sd.at("state.1.step").item(), 2.0);
  expect_values(sd.at("state.0.exp_avg"), {5}, Vec(5, 0.19), 1e-15);
}

// A small regression problem (float32) trained with autograd.
struct Problem {
  Tensor x = reshape(sin(arange(0, 12, 1, DType::Float32) * 0.7), {4, 3});
  Tensor y = tensor({1.0, -0.5, 0.25, 2.0}, {4, 1});
  Tensor loss(const Tensor& w, const Tensor& b) const { return mean(square(matmul(x, w) + b - y)); }
};

void train(Optimizer& opt, const Tensor& w, const Tensor& b, int steps) {
  Problem prob;
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    prob.loss(w, b).backward();
    opt.step();
  }
}

// Trains 5 steps, saves, loads into a fresh optimizer (made with other options) over copies
// of the parameters, trains both 5 more steps: the parameters must agree bit for bit.
template <class Make>
void check_resume(Make make, const std::string& what) {
  SCOPED_TRACE(what);
  Tensor w = tensor({0.3, -0.2, 0.5}, {3, 1}).requires_grad_();
  Tensor b = tensor({0.1}, {1}).requires_grad_();
  auto opt = make(w, b, 0.05);
  train(*opt, w, b, 5);
  StateDict sd = opt->state_dict();

  Tensor w2 = w.detach().clone().requires_grad_(), b2 = b.detach().clone().requires_grad_();
  auto opt2 = make(w2, b2, 0.9);  // a different lr: the loaded options must win
  opt2->load_state_dict(sd);
  EXPECT_EQ(opt2->param_groups()[1].options.lr(), opt->param_groups()[1].options.lr());

  train(*opt, w, b, 5);
  train(*opt2, w2, b2, 5);
  EXPECT_EQ(w2.to_vector(), w.to_vector());
  EXPECT_EQ(b2.to_vector(), b.to_vector());
  EXPECT_FALSE(equal(w, tensor({0.3, -0.2, 0.5}, {3, 1}))) << "training moved nothing";
}

// Two groups: w with the given lr, b with lr / 2.
template <class Opt, class Options>
std::unique_ptr<Optimizer> two_groups(const Tensor& w, const Tensor& b, double lr,
                                      Options options) {
  options.lr = lr;
  std::vector<ParamGroup> groups = {{{w}, {}}, {{b}, {{"lr", lr / 2}}}};
  return std::make_unique<Opt>(groups, options);
}

TEST(Optim, StateDictResumesBitIdentically) {
  check_resume(
      [](const Tensor& w, const Tensor& b, double lr) {
        return two_groups<SGD>(w, b, lr, SGDOptions{.momentum = 0.9, .nesterov = true});
      },
      "SGD nesterov");
  check_resume(
      [](const Tensor& w, const Tensor& b, double lr) {
        return two_groups<SGD>(w, b, lr,
                               SGDOptions{.momentum = 0.9, .dampening = 0.2, .weight_decay = 0.01});
      },
      "SGD dampening");
  check_resume(
      [](const Tensor& w, const Tensor& b, double lr) {
        return two_groups<Adagrad>(w, b, lr, AdagradOptions{.lr_decay = 0.01});
      },
      "Adagrad");
  check_resume(
      [](const Tensor& w, const Tensor& b, double lr) {
        return two_groups<RMSprop>(w, b, lr, RMSpropOptions{.momentum = 0.5, .centered = true});
      },
      "RMSprop centered momentum");
  check_resume(
      [](const Tensor& w, const Tensor& b, double lr) {
        return two_groups<Adam>(w, b, lr, AdamOptions{.weight_decay = 0.01, .amsgrad = true});
      },
      "Adam amsgrad");
  check_resume(
      [](const Tensor& w, const Tensor& b, double lr) {
        return two_groups<AdamW>(w, b, lr, AdamWOptions{.weight_decay = 0.1});
      },
      "AdamW");
}

TEST(Optim, StateDictSurvivesSafetensorsBytes) {
  // The checkpoint path: tensors and metadata through the safetensors format and back.
  Tensor w = tensor({0.3, -0.2, 0.5}, {3, 1}).requires_grad_();
  Tensor b = tensor({0.1}, {1}).requires_grad_();
  auto opt = two_groups<Adam>(w, b, 0.05, AdamOptions{.amsgrad = true});
  train(*opt, w, b, 3);
  StateDict sd = deserialize_safetensors(serialize_safetensors(opt->state_dict()));
  EXPECT_EQ(sd.metadata(), opt->state_dict().metadata());
  Tensor w2 = w.detach().clone().requires_grad_(), b2 = b.detach().clone().requires_grad_();
  auto opt2 = two_groups<Adam>(w2, b2, 0.5, AdamOptions{.amsgrad = true});
  opt2->load_state_dict(sd);
  train(*opt, w, b, 3);
  train(*opt2, w2, b2, 3);
  EXPECT_EQ(w2.to_vector(), w.to_vector());
  EXPECT_EQ(b2.to_vector(), b.to_vector());
}

TEST(Optim, LoadStateDictCastsStateToTheParameters) {
  Tensor p = make_param(DType::Float32);
  Adam opt({p});
  p.set_grad(ones({5}));
  opt.step();
  Tensor q = make_param(DType::Float64);
  Adam opt2({q});
  opt2.load_state_dict(opt.state_dict());
  EXPECT_EQ(opt2.state(q).at("exp_avg").dtype(), DType::Float64);
  EXPECT_EQ(opt2.state(q).step, 1);
}

TEST(Optim, LoadStateDictErrors) {
  Tensor a = make_param(), b = make_param();
  Adam adam({a, b});
  StateDict sd = adam.state_dict();
  SGD sgd({make_param()}, {.lr = 0.1});
  EXPECT_THROW_MSG(sgd.load_state_dict(sd), ValueError, "saved by Adam, not SGD");
  Adam one({make_param()});
  EXPECT_THROW_MSG(one.load_state_dict(sd), ValueError, "parameter group 0 has 2 parameters");
  std::vector<ParamGroup> groups = {{{make_param()}, {}}, {{make_param()}, {}}};
  Adam two(groups);
  EXPECT_THROW_MSG(two.load_state_dict(sd), ValueError, "1 parameter groups", "has 2");
  a.set_grad(ones({5}, DType::Float64));
  adam.step();
  StateDict bad = adam.state_dict();
  bad.insert("state.7.exp_avg", zeros({5}));
  Adam other({make_param(), make_param()});
  EXPECT_THROW_MSG(other.load_state_dict(bad), ValueError, "state.7.exp_avg", "names no parameter");
}

// ---------------- gradient clipping ----------------

std::vector<Tensor> grads_345_12() {
  Tensor a = zeros({2}).requires_grad_(), b = zeros({1}).requires_grad_();
  Tensor none = zeros({3}).requires_grad_();  // no gradient: ignored
  a.set_grad(tensor({3.0, -4.0}));
  b.set_grad(tensor({12.0}));
  return {a, none, b};
}

TEST(ClipGrad, NormScalesWhenAbove) {
  auto ps = grads_345_12();
  const double total = clip_grad_norm_(ps, 6.5);
  EXPECT_NEAR(total, 13.0, 1e-5);  // sqrt(9 + 16 + 144)
  const double s = 6.5 / (13.0 + 1e-6);
  expect_values(ps[0].grad(), {2}, {3 * s, -4 * s}, 1e-6);
  expect_values(ps[2].grad(), {1}, {12 * s}, 1e-6);
  EXPECT_FALSE(ps[1].grad().defined());
}

TEST(ClipGrad, NormLeavesSmallGradientsAlone) {
  auto ps = grads_345_12();
  EXPECT_NEAR(clip_grad_norm_(ps, 20.0), 13.0, 1e-5);
  expect_values(ps[0].grad(), {2}, {3, -4}, 0);
  expect_values(ps[2].grad(), {1}, {12}, 0);
}

TEST(ClipGrad, OtherNorms) {
  auto ps = grads_345_12();
  EXPECT_NEAR(clip_grad_norm_(ps, 6.0, INFINITY), 12.0, 1e-6);  // max |g|
  const double s = 6.0 / (12.0 + 1e-6);
  expect_values(ps[0].grad(), {2}, {3 * s, -4 * s}, 1e-6);
  ps = grads_345_12();
  EXPECT_NEAR(clip_grad_norm_(ps, 100.0, 1.0), 19.0, 1e-5);  // sum |g|
  ps = grads_345_12();
  EXPECT_NEAR(clip_grad_norm_(ps, 100.0, 3.0), std::cbrt(27.0 + 64 + 1728), 1e-4);
}

TEST(ClipGrad, NoGradientsAndNonFinite) {
  Tensor p = zeros({2}).requires_grad_();
  EXPECT_EQ(clip_grad_norm_({p}, 1.0), 0.0);
  p.set_grad(tensor({NAN, 1.0}));
  EXPECT_THROW_MSG(clip_grad_norm_({p}, 1.0, 2.0, /*error_if_nonfinite=*/true), Error,
                   "non-finite");
  EXPECT_TRUE(std::isnan(clip_grad_norm_({p}, 1.0)));
}

TEST(ClipGrad, Value) {
  auto ps = grads_345_12();
  clip_grad_value_(ps, 3.5);
  expect_values(ps[0].grad(), {2}, {3, -3.5}, 0);
  expect_values(ps[2].grad(), {1}, {3.5}, 0);
  EXPECT_FALSE(ps[1].grad().defined());
}

}  // namespace
}  // namespace kiln::optim
