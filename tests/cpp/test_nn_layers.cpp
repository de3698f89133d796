// Layers: Linear, Bilinear, Flatten, Unflatten, Identity, Dropout and the activation modules,
// checked against hand computation.
#include <cmath>
#include <memory>
#include <vector>

#include "test_util.h"

using namespace kiln;
using namespace kiln::nn;
using kiln::testing::expect_close;
using kiln::testing::expect_values;

namespace {

void set(Tensor t, const std::vector<double>& values) {
  NoGradGuard g;
  t.copy_(tensor(values, t.shape(), t.dtype()));
}

double max_abs(const Tensor& t) { return amax(abs(t)).item(); }

}  // namespace

TEST(NnLinear, ForwardMatchesHandComputation) {
  Linear lin(3, 2);
  set(lin.weight, {1, 2, 3, -1, 0, 0.5});
  set(lin.bias, {0.5, -2});
  Tensor x = tensor({1, 0, -1, 2, 1, 4}, {2, 3});
  // Row 0: [1*1 + 0*2 - 1*3 + 0.5, -1*1 + 0 - 0.5 - 2] = [-1.5, -3.5]
  // Row 1: [2 + 2 + 12 + 0.5, -2 + 0 + 2 - 2] = [16.5, -2]
  expect_values(lin(x), {2, 2}, {-1.5, -3.5, 16.5, -2});
  // Leading dimensions pass through.
  expect_values(lin(x.reshape({2, 1, 3})), {2, 1, 2}, {-1.5, -3.5, 16.5, -2});
}

TEST(NnLinear, GradientsMatchHandComputation) {
  manual_seed(11);
  Linear lin(3, 2);
  Tensor x = randn({4, 3}).requires_grad_(true);
  Tensor g = randn({4, 2});
  sum(lin(x) * g).backward();
  expect_close(lin.weight.grad(), matmul(g.t(), x.detach()), 1e-5, 1e-5, "dW = g^T x");
  expect_close(lin.bias.grad(), sum(g, {0}), 1e-5, 1e-5, "db = sum g");
  expect_close(x.grad(), matmul(g, lin.weight.detach()), 1e-5, 1e-5, "dx = g W");
}

TEST(NnLinear, NoBiasShapesAndErrors) {
  Linear lin(5, 4, /*bias=*/false);
  EXPECT_EQ(lin.weight.shape(), (Shape{4, 5}));
  EXPECT_FALSE(lin.bias.defined());
  EXPECT_EQ(lin.parameters().size(), 1u);
  EXPECT_EQ(lin.state_dict().keys(), (std::vector<std::string>{"weight"}));
  EXPECT_EQ(lin.repr(), "Linear(in_features=5, out_features=4, bias=False)");
  EXPECT_THROW_MSG(lin(zeros({2, 3})), ValueError, "Linear: expected an input whose last dimension",
                   "in_features=5", "[2, 3]");
  EXPECT_THROW_MSG(Linear(-1, 2), ValueError, "non-negative");
}

TEST(NnLinear, DefaultInitialisationFollowsPyTorch) {
  manual_seed(12);
  Linear lin(400, 300);
  // kaiming_uniform_(a=sqrt(5)): bound = sqrt(6 / ((1 + 5) * fan_in)) = 1/sqrt(fan_in).
  const double bound = 1.0 / std::sqrt(400.0);
  EXPECT_LE(max_abs(lin.weight), bound);
  EXPECT_GT(max_abs(lin.weight), 0.99 * bound);
  EXPECT_NEAR(kiln::std(lin.weight).item(), bound / std::sqrt(3.0), 0.01 * bound);
  EXPECT_LE(max_abs(lin.bias), bound);
  EXPECT_GT(max_abs(lin.bias), 0.9 * bound);
  // Reproducible from the seed.
  manual_seed(12);
  Linear again(400, 300);
  expect_close(again.weight, lin.weight, 0, 0);
}

TEST(NnBilinear, ForwardMatchesHandComputation) {
  Bilinear bil(2, 3, 2);
  EXPECT_EQ(bil.weight.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(bil.bias.shape(), (Shape{2}));
  set(bil.weight, {1, 0, 2, 0, -1, 1,      // W[0]
                   0.5, 1, 0, 3, 0, -2});  // W[1]
  set(bil.bias, {1, -1});
  Tensor x1 = tensor({1, 2, -1, 0.5}, {2, 2});
  Tensor x2 = tensor({1, 1, 2, 0, 3, -1}, {2, 3});
  // Sample 0: x1 = [1, 2], x2 = [1, 1, 2].
  //   k=0: 1*(1+0+4) + 2*(0-1+2) = 7, + 1 = 8
  //   k=1: 1*(0.5+1+0) + 2*(3+0-4) = -0.5, - 1 = -1.5
  // Sample 1: x1 = [-1, 0.5], x2 = [0, 3, -1].
  //   k=0: -1*(0+0-2) + 0.5*(0-3-1) = 0, + 1 = 1
  //   k=1: -1*(0+3+0) + 0.5*(0+0+2) = -2, - 1 = -3
  expect_values(bil(x1, x2), {2, 2}, {8, -1.5, 1, -3});
  // Extra batch dimensions and unbatched inputs.
  expect_values(bil(x1.reshape({2, 1, 2}), x2.reshape({2, 1, 3})), {2, 1, 2}, {8, -1.5, 1, -3});
  expect_values(bil(x1.select(0, 0), x2.select(0, 0)), {2}, {8, -1.5});
}

TEST(NnBilinear, GradientsMatchHandComputation) {
  manual_seed(13);
  Bilinear bil(3, 4, 2);
  bil.to(DType::Float64);
  Tensor x1 = randn({5, 3}, DType::Float64).requires_grad_(true);
  Tensor x2 = randn({5, 4}, DType::Float64).requires_grad_(true);
  Tensor g = randn({5, 2}, DType::Float64);
  sum(bil(x1, x2) * g).backward();
  auto a = x1.to_vector(), c = x2.to_vector(), gv = g.to_vector(), w = bil.weight.to_vector();
  std::vector<double> dw(2 * 3 * 4, 0), dx1(5 * 3, 0), dx2(5 * 4, 0);
  for (int b = 0; b < 5; ++b)
    for (int k = 0; k < 2; ++k)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) {
          double gk = gv[size_t(b * 2 + k)], wk = w[size_t(k * 12 + i * 4 + j)];
          dw[size_t(k * 12 + i * 4 + j)] += gk * a[size_t(b * 3 + i)] * c[size_t(b * 4 + j)];
          dx1[size_t(b * 3 + i)] += gk * wk * c[size_t(b * 4 + j)];
          dx2[size_t(b * 4 + j)] += gk * wk * a[size_t(b * 3 + i)];
        }
  expect_values(bil.weight.grad(), {2, 3, 4}, dw, 1e-12);
  expect_values(x1.grad(), {5, 3}, dx1, 1e-12);
  expect_values(x2.grad(), {5, 4}, dx2, 1e-12);
  expect_close(bil.bias.grad(), sum(g, {0}), 1e-12, 1e-12);
}

TEST(NnBilinear, InitErrorsAndRepr) {
  manual_seed(14);
  Bilinear bil(16, 5, 40);
  const double bound = 1.0 / std::sqrt(16.0);  // PyTorch: 1/sqrt(in1_features) for both
  EXPECT_LE(max_abs(bil.weight), bound);
  EXPECT_GT(max_abs(bil.weight), 0.99 * bound);
  EXPECT_LE(max_abs(bil.bias), bound);
  EXPECT_EQ(bil.repr(), "Bilinear(in1_features=16, in2_features=5, out_features=40, bias=True)");
  EXPECT_THROW_MSG(bil(zeros({2, 16}), zeros({3, 5})), ValueError, "same batch dimensions",
                   "[2, 16]", "[3, 5]");
  EXPECT_THROW_MSG(bil(zeros({2, 15}), zeros({2, 5})), ValueError, "in1_features=16");
  EXPECT_THROW_MSG(bil(zeros({2, 16})), Error, "forward takes two inputs");
  Bilinear nobias(2, 2, 2, false);
  EXPECT_EQ(nobias.state_dict().keys(), (std::vector<std::string>{"weight"}));
}

TEST(NnShape, FlattenUnflattenIdentity) {
  Tensor x = arange(0, 24, 1, DType::Float32).reshape({2, 3, 4});
  EXPECT_EQ(Flatten()(x).shape(), (Shape{2, 12}));
  EXPECT_EQ(Flatten(0, 1)(x).shape(), (Shape{6, 4}));
  expect_close(Flatten()(x), x.reshape({2, 12}), 0, 0);
  EXPECT_EQ(Flatten().repr(), "Flatten(start_dim=1, end_dim=-1)");

  Tensor y = zeros({2, 12});
  EXPECT_EQ(Unflatten(1, {3, 4})(y).shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(Unflatten(-1, {2, -1})(y).shape(), (Shape{2, 2, 6}));
  expect_close(Unflatten(1, {3, 4})(Flatten()(x)), x, 0, 0);
  EXPECT_EQ(Unflatten(1, {2, 5}).repr(), "Unflatten(dim=1, unflattened_size=(2, 5))");
  EXPECT_EQ(Unflatten(0, {4}).repr(), "Unflatten(dim=0, unflattened_size=(4,))");
  EXPECT_THROW_MSG(Unflatten(1, {5, 2})(y), ValueError, "do not fit dimension 1 of size 12",
                   "[2, 12]");
  EXPECT_THROW_MSG(Unflatten(1, {-1, -1}), ValueError, "only one size can be inferred");

  Identity id;
  EXPECT_TRUE(id(x).is_same(x));
  EXPECT_EQ(id.repr(), "Identity()");
}

TEST(NnDropout, InvertedScalingAndEval) {
  manual_seed(15);
  Dropout drop(0.25);
  EXPECT_EQ(drop.repr(), "Dropout(p=0.25, inplace=False)");
  Tensor x = full({20000}, 3.0);
  Tensor y = drop(x);
  std::vector<double> v = y.to_vector();
  int dropped = 0;
  for (double e : v) {
    EXPECT_TRUE(e == 0.0 || std::abs(e - 4.0) < 1e-6) << e;  // 3 / (1 - 0.25)
    dropped += e == 0.0;
  }
  EXPECT_NEAR(dropped / 20000.0, 0.25, 0.015);
  EXPECT_NEAR(mean(y).item(), 3.0, 0.05);  // the expectation is kept

  // The mask comes from the default generator: the same seed gives the same mask.
  manual_seed(15);
  expect_close(drop(x), y, 0, 0);

  // Gradients flow through the kept elements only, with the same scale.
  Tensor xr = ones({1000}).requires_grad_(true);
  Tensor out = drop(xr);
  sum(out).backward();
  expect_close(xr.grad(), out.detach(), 0, 0);

  drop.eval();
  EXPECT_TRUE(drop(x).is_same(x));
  EXPECT_THROW_MSG(Dropout(1.5), ValueError, "between 0 and 1", "1.5");
}

TEST(NnActivation, ValuesMatchFormulas) {
  Tensor x = tensor({-2, -0.5, 0, 1, 3});
  expect_values(ReLU()(x), {5}, {0, 0, 0, 1, 3});
  expect_values(LeakyReLU(0.2)(x), {5}, {-0.4, -0.1, 0, 1, 3});
  expect_values(LeakyReLU()(x), {5}, {-0.02, -0.005, 0, 1, 3});
  expect_values(ELU(2.0)(x), {5}, {2 * std::expm1(-2.0), 2 * std::expm1(-0.5), 0, 1, 3});
  std::vector<double> sig, th, gelu_exact, gelu_tanh, silu_v, sp, sp2;
  for (double v : {-2.0, -0.5, 0.0, 1.0, 3.0}) {
    double s = 1 / (1 + std::exp(-v));
    sig.push_back(s);
    th.push_back(std::tanh(v));
    gelu_exact.push_back(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
    gelu_tanh.push_back(0.5 * v *
                        (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
    silu_v.push_back(v * s);
    sp.push_back(std::log1p(std::exp(v)));
    // beta = 2, threshold = 4: linear where beta * x > 4.
    sp2.push_back(2 * v > 4 ? v : std::log1p(std::exp(2 * v)) / 2);
  }
  expect_values(Sigmoid()(x), {5}, sig);
  expect_values(Tanh()(x), {5}, th);
  expect_values(GELU()(x), {5}, gelu_exact);
  expect_values(GELU("tanh")(x), {5}, gelu_tanh);
  expect_values(SiLU()(x), {5}, silu_v);
  expect_values(Softplus()(x), {5}, sp);
  expect_values(Softplus(2.0, 4.0)(x), {5}, sp2);
  EXPECT_THROW_MSG(GELU("fast"), ValueError, "'none' or 'tanh'");
}

TEST(NnActivation, SoftmaxModules) {
  Tensor x = tensor({1, 2, 3, 0, 0, 0}, {2, 3});
  double e1 = std::exp(1.0), e2 = std::exp(2.0), e3 = std::exp(3.0), z = e1 + e2 + e3;
  expect_values(Softmax(1)(x), {2, 3}, {e1 / z, e2 / z, e3 / z, 1 / 3.0, 1 / 3.0, 1 / 3.0});
  expect_values(sum(Softmax(0)(x), {0}), {3}, {1, 1, 1});
  expect_values(LogSoftmax(-1)(x), {2, 3},
                {1 - std::log(z), 2 - std::log(z), 3 - std::log(z), -std::log(3.0), -std::log(3.0),
                 -std::log(3.0)});
}

TEST(NnActivation, Repr) {
  EXPECT_EQ(ReLU().repr(), "ReLU()");
  EXPECT_EQ(LeakyReLU().repr(), "LeakyReLU(negative_slope=0.01)");
  EXPECT_EQ(ELU().repr(), "ELU(alpha=1.0)");
  EXPECT_EQ(Sigmoid().repr(), "Sigmoid()");
  EXPECT_EQ(Tanh().repr(), "Tanh()");
  EXPECT_EQ(GELU().repr(), "GELU(approximate='none')");
  EXPECT_EQ(SiLU().repr(), "SiLU()");
  EXPECT_EQ(Softplus().repr(), "Softplus(beta=1.0, threshold=20.0)");
  EXPECT_EQ(Softmax(1).repr(), "Softmax(dim=1)");
  EXPECT_EQ(LogSoftmax(-1).repr(), "LogSoftmax(dim=-1)");
}

TEST(NnTraining, SequentialMlpLearns) {
  // A few plain gradient steps on y = 2 x0 - x1 must cut the loss by far.
  manual_seed(16);
  auto net = std::make_shared<Sequential>(std::make_shared<Linear>(2, 16), std::make_shared<Tanh>(),
                                          std::make_shared<Linear>(16, 1));
  Tensor x = randn({64, 2});
  Tensor y = (x.select(1, 0) * 2 - x.select(1, 1)).unsqueeze(1);
  auto loss_now = [&] { return mean(square((*net)(x)-y)); };
  double first = loss_now().item();
  for (int step = 0; step < 200; ++step) {
    net->zero_grad();
    loss_now().backward();
    NoGradGuard g;
    for (Tensor& p : net->parameters()) p.sub_(p.grad(), 0.1);
  }
  double last = loss_now().item();
  EXPECT_LT(last, 0.05 * first) << first << " -> " << last;
}
