// kiln::nn::init: gains, fans, and the statistics of every initialiser on large tensors.
#include <cmath>
#include <vector>

#include "test_util.h"

using namespace kiln;
using namespace kiln::nn;
using kiln::testing::expect_close;
using kiln::testing::expect_values;

namespace {

double max_abs(const Tensor& t) { return amax(abs(t)).item(); }
double stddev(const Tensor& t) { return kiln::std(t).item(); }

// ||Q^T Q - I||_max for the orientation with orthonormal vectors (columns when tall).
double orthogonality_error(const Tensor& w2d) {
  Tensor q = w2d.to(DType::Float64);
  Tensor gram = q.size(0) >= q.size(1) ? matmul(q.t(), q) : matmul(q, q.t());
  return max_abs(gram - eye(gram.size(0), std::nullopt, DType::Float64));
}

}  // namespace

TEST(NnInit, CalculateGain) {
  EXPECT_DOUBLE_EQ(init::calculate_gain("linear"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("conv2d"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("sigmoid"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu"), std::sqrt(2.0 / (1 + 0.01 * 0.01)));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu", 0.2), std::sqrt(2.0 / 1.04));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu", 0.0), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain("selu"), 0.75);
  EXPECT_THROW_MSG(init::calculate_gain("swish"), ValueError, "unsupported nonlinearity 'swish'");
}

TEST(NnInit, FanInAndFanOut) {
  EXPECT_EQ(init::calculate_fan_in_and_fan_out(empty({3, 5})), (std::pair<int64_t, int64_t>{5, 3}));
  // Conv weight [out, in, kh, kw]: the receptive field multiplies both.
  EXPECT_EQ(init::calculate_fan_in_and_fan_out(empty({8, 4, 3, 3})),
            (std::pair<int64_t, int64_t>{36, 72}));
  EXPECT_THROW_MSG(init::calculate_fan_in_and_fan_out(empty({5})), ValueError,
                   "fewer than 2 dimensions", "[5]");
}

TEST(NnInit, UniformNormalConstant) {
  manual_seed(21);
  Tensor t = empty({1000, 1000});
  init::uniform_(t, -2, 4);
  EXPECT_GE(amin(t).item(), -2);
  EXPECT_LT(amax(t).item(), 4);
  EXPECT_NEAR(mean(t).item(), 1.0, 0.01);
  EXPECT_NEAR(stddev(t), 6 / std::sqrt(12.0), 0.005);

  init::normal_(t, 3, 0.5);
  EXPECT_NEAR(mean(t).item(), 3.0, 0.005);
  EXPECT_NEAR(stddev(t), 0.5, 0.005);

  Tensor s = empty({2, 2});
  init::constant_(s, 1.5);
  expect_values(s, {2, 2}, {1.5, 1.5, 1.5, 1.5});
  init::zeros_(s);
  expect_values(s, {2, 2}, {0, 0, 0, 0});
  init::ones_(s);
  expect_values(s, {2, 2}, {1, 1, 1, 1});

  EXPECT_THROW_MSG(init::uniform_(t, 1, 0), ValueError, "a <= b");
  EXPECT_THROW_MSG(init::normal_(t, 0, -1), ValueError, "std >= 0");
  EXPECT_THROW_MSG(init::uniform_(zeros({2}, DType::Int64)), TypeError, "floating point");
}

TEST(NnInit, WritesParametersInPlaceWithoutHistory) {
  manual_seed(22);
  Tensor w = zeros({4, 3}).requires_grad_(true);
  Tensor same = init::kaiming_uniform_(w);
  EXPECT_TRUE(same.is_same(w));
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(w.requires_grad());
  EXPECT_GT(max_abs(w), 0);
  // Same seed, same values.
  manual_seed(22);
  Tensor w2 = zeros({4, 3});
  init::kaiming_uniform_(w2);
  expect_close(w2, w.detach(), 0, 0);
  // Works on non-contiguous views too (writes through to the base).
  Tensor base = zeros({6, 4});
  init::constant_(base.t(), 2);
  expect_values(sum(base), {}, {48});
}

TEST(NnInit, KaimingUniformBound) {
  manual_seed(23);
  Tensor t = empty({500, 800});
  init::kaiming_uniform_(t, 0, "fan_in", "relu");
  const double bound = std::sqrt(6.0 / 800);  // gain sqrt(2), bound sqrt(3) * gain / sqrt(fan)
  EXPECT_LE(max_abs(t), bound);
  EXPECT_GT(max_abs(t), 0.999 * bound);
  EXPECT_NEAR(stddev(t), std::sqrt(2.0 / 800), 0.01 * std::sqrt(2.0 / 800));

  init::kaiming_uniform_(t, 0, "fan_out", "relu");
  EXPECT_LE(max_abs(t), std::sqrt(6.0 / 500));
  EXPECT_GT(max_abs(t), 0.999 * std::sqrt(6.0 / 500));

  // a = sqrt(5) with leaky_relu (Linear's default): bound 1/sqrt(fan_in).
  init::kaiming_uniform_(t, std::sqrt(5.0));
  EXPECT_LE(max_abs(t), 1 / std::sqrt(800.0));
  EXPECT_GT(max_abs(t), 0.999 / std::sqrt(800.0));

  EXPECT_THROW_MSG(init::kaiming_uniform_(t, 0, "fan_avg"), ValueError, "mode 'fan_avg'",
                   "fan_in, fan_out");
  EXPECT_THROW_MSG(init::kaiming_uniform_(empty({7})), ValueError, "fewer than 2 dimensions");
}

TEST(NnInit, KaimingNormalStd) {
  manual_seed(24);
  Tensor t = empty({1000, 250, 2, 2});  // fan_in = 1000, fan_out = 4000
  init::kaiming_normal_(t, 0, "fan_in", "relu");
  EXPECT_NEAR(stddev(t), std::sqrt(2.0 / 1000), 0.01 * std::sqrt(2.0 / 1000));
  EXPECT_NEAR(mean(t).item(), 0, 3e-4);
  init::kaiming_normal_(t, 0, "fan_out", "tanh");
  EXPECT_NEAR(stddev(t), (5.0 / 3.0) / std::sqrt(4000.0), 0.01 * (5.0 / 3.0) / std::sqrt(4000.0));
}

TEST(NnInit, XavierStd) {
  manual_seed(25);
  Tensor t = empty({600, 1400});
  const double expected = 2.0 * std::sqrt(2.0 / (600 + 1400));
  init::xavier_uniform_(t, 2.0);
  EXPECT_NEAR(stddev(t), expected, 0.01 * expected);
  EXPECT_LE(max_abs(t), std::sqrt(3.0) * expected);
  init::xavier_normal_(t, 2.0);
  EXPECT_NEAR(stddev(t), expected, 0.01 * expected);
  EXPECT_NEAR(mean(t).item(), 0, 1e-3);
}

TEST(NnInit, OrthogonalIsOrthonormal) {
  manual_seed(26);
  for (Shape shape : {Shape{64, 64}, Shape{100, 30}, Shape{30, 100}, Shape{8, 4, 3, 3}}) {
    Tensor t = empty(shape);
    init::orthogonal_(t);
    Tensor w2d = t.reshape({shape[0], -1});
    EXPECT_LT(orthogonality_error(w2d), 1e-5) << shape_str(shape);
  }
  // Exact to double rounding in float64, even for a large square matrix.
  Tensor d = empty({200, 200}, DType::Float64);
  init::orthogonal_(d);
  EXPECT_LT(orthogonality_error(d), 1e-12);
  // gain scales it: W^T W = gain^2 I.
  Tensor g = empty({50, 20}, DType::Float64);
  init::orthogonal_(g, 3.0);
  EXPECT_LT(max_abs(matmul(g.t(), g) - eye(20, std::nullopt, DType::Float64) * 9.0), 1e-11);
  EXPECT_THROW_MSG(init::orthogonal_(empty({5})), ValueError, "2 or more dimensions");
}

TEST(NnInit, ZeroElementTensorsAreLeftAlone) {
  Tensor t = empty({0, 5});
  EXPECT_NO_THROW(init::kaiming_uniform_(t));
  EXPECT_NO_THROW(init::xavier_normal_(t));
  EXPECT_NO_THROW(init::orthogonal_(t));
  EXPECT_NO_THROW(init::uniform_(t));
  EXPECT_EQ(t.numel(), 0);
}
