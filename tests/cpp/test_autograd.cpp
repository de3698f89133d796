// The autograd engine: accumulation, retain/create graph, hooks, grad(), grad modes, version
// counters, higher order (Hessian-vector products) and forward mode (jvp).
#include <cmath>

#include "test_util.h"

namespace kiln::testing {
namespace {

Tensor leaf(const std::vector<double>& v, const Shape& s = {}) {
  return tensor(v, s, DType::Float64).requires_grad_(true);
}

TEST(Autograd, BackwardAccumulatesIntoLeaves) {
  Tensor x = leaf({1, -2, 3});
  Tensor y = sum(x * x * 3.0);
  y.backward(Tensor(), /*retain_graph=*/true);
  expect_values(x.grad(), {3}, {6, -12, 18});
  y.backward();  // second call adds
  expect_values(x.grad(), {3}, {12, -24, 36});
  EXPECT_FALSE(x.grad().requires_grad());
}

TEST(Autograd, BroadcastGradientsAreSummed) {
  Tensor a = leaf({1, 2, 3}, {3, 1});
  Tensor b = leaf({10, 20}, {2});
  sum(a * b).backward();
  expect_values(a.grad(), {3, 1}, {30, 30, 30});
  expect_values(b.grad(), {2}, {6, 6});
}

TEST(Autograd, SecondBackwardWithoutRetainGraphFails) {
  Tensor x = leaf({1, 2});
  Tensor y = sum(exp(x));
  y.backward();
  EXPECT_THROW_MSG(y.backward(), Error, "second time", "retain_graph");
}

TEST(Autograd, NonScalarBackwardNeedsGradient) {
  Tensor x = leaf({1, 2});
  EXPECT_THROW_MSG((x * 2.0).backward(), ValueError, "one-element", "[2]");
  (x * 2.0).backward(tensor({1.0, 0.5}, {}, DType::Float64));
  expect_values(x.grad(), {2}, {2, 1});
}

TEST(Autograd, CreateGraphGivesSecondDerivatives) {
  Tensor x = leaf({2.0});
  Tensor y = sum(x * x * x);  // y' = 3x^2, y'' = 6x
  auto g = autograd::grad({y}, {x}, {}, std::nullopt, /*create_graph=*/true);
  expect_values(g[0], {1}, {12});
  EXPECT_TRUE(g[0].requires_grad());
  auto gg = autograd::grad({sum(g[0])}, {x});
  expect_values(gg[0], {1}, {12});
  EXPECT_FALSE(x.grad().defined()) << "grad() must leave .grad alone";
}

TEST(Autograd, BackwardWithCreateGraphKeepsHistoryInGrad) {
  Tensor x = leaf({1.5});
  sum(x * x * x).backward(Tensor(), false, /*create_graph=*/true);
  Tensor g = x.grad();  // 3x^2, differentiable
  EXPECT_TRUE(g.requires_grad());
  auto gg = autograd::grad({sum(g)}, {x});
  expect_values(gg[0], {1}, {9});
  // As in PyTorch, .grad with history refers back to x (a reference cycle): clear it.
  x.set_grad(Tensor());
}

TEST(Autograd, GradAllowUnused) {
  Tensor x = leaf({1.0}), z = leaf({2.0});
  Tensor y = sum(x * 2.0);
  EXPECT_THROW_MSG(autograd::grad({y}, {x, z}, {}, true), Error, "not used", "allow_unused");
  auto g = autograd::grad({y}, {x, z}, {}, true, false, /*allow_unused=*/true);
  expect_values(g[0], {1}, {2});
  EXPECT_FALSE(g[1].defined());
}

TEST(Autograd, GradOfNonLeafInput) {
  Tensor x = leaf({1, 2});
  Tensor h = x * 3.0;
  Tensor y = sum(h * h);
  auto g = autograd::grad({y}, {h});
  expect_values(g[0], {2}, {6, 12});
}

TEST(Autograd, NoGradAndEnableGrad) {
  Tensor x = leaf({1.0});
  {
    NoGradGuard no_grad;
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    {
      EnableGradGuard on;
      EXPECT_TRUE((x * 2.0).requires_grad());
    }
  }
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Autograd, DetachStopsGradientAndSharesStorage) {
  Tensor x = leaf({1, 2});
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.shares_storage(x));
  Tensor y = sum(x * d);  // d is a constant
  y.backward();
  expect_values(x.grad(), {2}, {1, 2});
}

TEST(Autograd, TensorHooks) {
  Tensor x = leaf({1, 2});
  int calls = 0;
  x.register_hook([&](const Tensor& g) {
    ++calls;
    return g * 10.0;
  });
  Tensor h = x * 2.0;
  int h_handle = h.register_hook([](const Tensor& g) { return g + 1.0; });
  h.retain_grad();
  sum(h).backward(Tensor(), true);
  EXPECT_EQ(calls, 1);
  expect_values(h.grad(), {2}, {2, 2});    // hooked: 1 + 1
  expect_values(x.grad(), {2}, {40, 40});  // (1 + 1) * 2 * 10
  h.remove_hook(h_handle);
  x.set_grad(Tensor());
  sum(h).backward();
  expect_values(x.grad(), {2}, {20, 20});
}

TEST(Autograd, RequiresGradOnlyOnFloatingLeaves) {
  Tensor i = arange(3);
  EXPECT_THROW_MSG(i.requires_grad_(true), TypeError, "floating", "int64");
  Tensor x = leaf({1.0});
  Tensor y = x * 2.0;
  EXPECT_THROW_MSG(y.requires_grad_(false), Error, "leaf");
}

TEST(Autograd, InPlaceOnLeafThatRequiresGradFails) {
  Tensor x = leaf({1.0, 2.0});
  EXPECT_THROW_MSG(x.add_(1.0), Error, "add_", "leaf");
  {
    NoGradGuard no_grad;
    x.add_(1.0);  // optimizer-style update is fine
  }
  expect_values(x, {2}, {2, 3});
}

TEST(Autograd, InPlaceRecordsHistory) {
  Tensor x = leaf({1.0, 2.0});
  Tensor a = x * 1.0;
  a.mul_(3.0);
  a.add_(x);  // a = 3x + x
  uint64_t v = a.version();
  EXPECT_GE(v, 2u);
  sum(a * a).backward();  // d/dx (4x)^2 = 32x
  expect_values(x.grad(), {2}, {32, 64});
}

TEST(Autograd, ModifiedSavedInputIsDetected) {
  Tensor x = leaf({1.0, 2.0});
  Tensor a = x * 2.0;
  Tensor y = sum(a * a);  // saves a
  a.add_(1.0);
  EXPECT_THROW_MSG(y.backward(), Error, "modified by an in-place operation", "MulBackward0",
                   "version 1", "expected version 0");
}

TEST(Autograd, ModifiedSavedOutputIsDetected) {
  Tensor x = leaf({0.5, -1.0});
  Tensor s = sigmoid(x);  // saves its output
  Tensor y = sum(s * 3.0);
  {
    NoGradGuard no_grad;
    s.mul_(2.0);
  }
  EXPECT_THROW_MSG(y.backward(), Error, "modified by an in-place operation", "SigmoidBackward0");
}

TEST(Autograd, ViewsShareTheVersionCounter) {
  Tensor x = leaf({1, 2, 3, 4}, {2, 2});
  Tensor a = x * 1.0;
  Tensor row = a.select(0, 1);
  Tensor y = sum(exp(a));  // saves exp(a), a different storage: unaffected
  Tensor z = sum(a * a);   // saves a
  {
    NoGradGuard no_grad;
    row.fill_(0.0);  // writes through the view into a
  }
  y.backward();
  EXPECT_THROW_MSG(z.backward(), Error, "modified by an in-place operation");
}

// A small MLP's Hessian-vector product (double backward) against finite differences of its
// gradient: (g(w + eps v) - g(w - eps v)) / 2 eps.
TEST(Autograd, HessianVectorProductOfMlpMatchesFiniteDifferences) {
  manual_seed(3);
  TensorOptions f64(DType::Float64);
  Tensor xb = randn({5, 3}, f64), target = randn({5, 2}, f64);
  Tensor w1 = randn({4, 3}, f64), b1 = randn({4}, f64), w2 = randn({2, 4}, f64);
  autograd::Function loss = [&](const std::vector<Tensor>& p) {
    Tensor h = tanh(linear(xb, p[0], p[1]));
    Tensor out = linear(h, p[2]);
    return std::vector<Tensor>{mean(square(out - target))};
  };
  std::vector<Tensor> params{w1, b1, w2};
  std::vector<Tensor> v{randn({4, 3}, f64), randn({4}, f64), randn({2, 4}, f64)};
  auto hv = autograd::hvp(loss, params, v).derivatives;

  const double eps = 1e-5;
  auto gradient_at = [&](double s) {
    std::vector<Tensor> p;
    for (size_t i = 0; i < params.size(); ++i) p.push_back(params[i] + v[i] * s);
    return autograd::vjp(loss, p, {ones({}, f64)}).derivatives;
  };
  auto gp = gradient_at(eps), gm = gradient_at(-eps);
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor fd = (gp[i] - gm[i]) / (2 * eps);
    expect_close(hv[i], fd, 1e-6, 1e-5, "hvp param " + std::to_string(i));
  }
  // And it is not trivially zero.
  EXPECT_GT(norm(hv[0]).item(), 1e-3);
}

// f(x, y) = (x^2 sin(xy + pi/2), x^2 ln(1 + xy)), elementwise over 3 points: the Jacobian from
// forward mode equals the one from reverse mode and the analytic one.
TEST(Autograd, ForwardModeJacobianMatchesReverseAndAnalytic) {
  TensorOptions f64(DType::Float64);
  Tensor x = tensor({0.3, 0.8, 1.2}, {}, f64), y = tensor({0.5, 1.1, 0.7}, {}, f64);
  autograd::Function f = [](const std::vector<Tensor>& in) {
    const Tensor& a = in[0];
    const Tensor& b = in[1];
    Tensor xy = a * b;
    return std::vector<Tensor>{a * a * sin(xy + M_PI / 2), a * a * log1p(xy)};
  };
  std::vector<double> xv = x.to_vector(), yv = y.to_vector();
  for (size_t out = 0; out < 2; ++out) {
    for (size_t in = 0; in < 2; ++in) {
      Tensor fwd = autograd::jacobian(f, {x, y}, out, in, /*forward_mode=*/true);
      Tensor rev = autograd::jacobian(f, {x, y}, out, in, /*forward_mode=*/false);
      std::vector<double> analytic(9, 0.0);
      for (size_t k = 0; k < 3; ++k) {
        double a = xv[k], b = yv[k], u = a * b + M_PI / 2;
        double d;
        if (out == 0)
          d = in == 0 ? 2 * a * std::sin(u) + a * a * std::cos(u) * b : a * a * std::cos(u) * a;
        else
          d = in == 0 ? 2 * a * std::log1p(a * b) + a * a * b / (1 + a * b)
                      : a * a * a / (1 + a * b);
        analytic[k * 3 + k] = d;
      }
      std::string what = "d out" + std::to_string(out) + " / d in" + std::to_string(in);
      expect_values(fwd, {3, 3}, analytic, 1e-12, 1e-10);
      expect_values(rev, {3, 3}, analytic, 1e-12, 1e-10);
      expect_close(fwd, rev, 1e-12, 1e-12, what);
    }
  }
}

TEST(Autograd, JvpOfLinearMapIsTheMapItself) {
  TensorOptions f64(DType::Float64);
  Tensor A = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64);
  Tensor x = tensor({1, 1, 1}, {}, f64), v = tensor({1, 0, -1}, {}, f64);
  auto r = autograd::jvp(
      [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{matmul(A, in[0])}; }, {x},
      {v});
  expect_values(r.outputs[0], {2}, {6, 15});
  expect_values(r.derivatives[0], {2}, {-2, -2});
}

}  // namespace
}  // namespace kiln::testing
