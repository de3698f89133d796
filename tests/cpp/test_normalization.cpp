// batch_norm, group_norm, instance_norm (kiln::nn::functional) and the modules BatchNorm1d/2d/3d,
// InstanceNorm2d and GroupNorm (include/kiln/nn/normalization.h): values worked out by hand
// (eps = 0 where that keeps them exact), running-statistics updates (momentum, unbiased variance,
// cumulative average), fp64 gradchecks of first and second order over the option space,
// state_dict layouts, repr and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/gradcheck.h"
#include "kiln/nn/normalization.h"
#include "kiln/ops.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::testing;
namespace F = kiln::nn::functional;

namespace {

const TensorOptions kF64(DType::Float64);

Tensor t64(const std::vector<double>& v, const Shape& shape, bool requires_grad = false) {
  return tensor(v, shape, TensorOptions(DType::Float64, Device::cpu(), requires_grad));
}
// sin(a * i + b), row-major: deterministic, non-degenerate values.
Tensor seq(const Shape& shape, double a, double b, bool requires_grad = false) {
  std::vector<double> v(static_cast<size_t>(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(a * double(i) + b);
  return t64(v, shape, requires_grad);
}

void expect_gradcheck(const autograd::Function& f, const std::vector<Tensor>& inputs) {
  GradcheckOptions opt;
  opt.check_second_order = true;
  GradcheckResult res = gradcheck(f, inputs, opt);
  EXPECT_TRUE(res.ok) << res.message;
}

}  // namespace

// ---------------- batch_norm ----------------

TEST(BatchNorm, TrainingNormalisesWithBatchStatsAndUpdatesRunningStats) {
  // Channel 0: {1, 3}, mean 2, biased var 1 (unbiased 2); channel 1: {2, 6}, mean 4, var 4 (8).
  Tensor x = t64({1, 2, 3, 6}, {2, 2});
  Tensor rm = zeros({2}, kF64), rv = ones({2}, kF64);
  Tensor y = F::batch_norm(x, rm, rv, {}, {}, /*training=*/true, 0.1, /*eps=*/0.0);
  expect_values(y, {2, 2}, {-1, -1, 1, 1}, 1e-12);
  expect_values(rm, {2}, {0.2, 0.4}, 1e-12);  // 0.9 * 0 + 0.1 * mean
  expect_values(rv, {2}, {1.1, 1.7}, 1e-12);  // 0.9 * 1 + 0.1 * unbiased var
  // Without momentum the factor is 0: the running statistics stay.
  F::batch_norm(x, rm, rv, {}, {}, true, std::nullopt, 0.0);
  expect_values(rm, {2}, {0.2, 0.4}, 1e-12);
}

TEST(BatchNorm, EvalUsesRunningStatsAndAffine) {
  Tensor x = t64({1, 2, 3, 6}, {2, 2});
  Tensor rm = t64({1, 2}, {2}), rv = t64({4, 1}, {2});
  Tensor w = t64({2, 3}, {2}), b = t64({0.5, -1}, {2});
  // ch0: (x - 1) / 2 * 2 + 0.5; ch1: (x - 2) / 1 * 3 - 1.
  Tensor y = F::batch_norm(x, rm, rv, w, b, /*training=*/false, 0.1, 0.0);
  expect_values(y, {2, 2}, {0.5, -1, 2.5, 11}, 1e-12);
  expect_values(rm, {2}, {1, 2}, 0);  // untouched
  // eps enters under the square root.
  Tensor y2 = F::batch_norm(t64({5}, {1, 1}), t64({1}, {1}), t64({3}, {1}), {}, {}, false, 0.1, 1);
  expect_values(y2, {1, 1}, {2}, 1e-12);
}

TEST(BatchNorm, ThreeToFiveDimensionalInputsReduceOverBatchAndSpace) {
  // [N=1, C=2, L=2]: per channel {1, 3} and {2, 6}.
  Tensor y3 = F::batch_norm(t64({1, 3, 2, 6}, {1, 2, 2}), {}, {}, {}, {}, true, 0.1, 0.0);
  expect_values(y3, {1, 2, 2}, {-1, 1, -1, 1}, 1e-12);
  for (int64_t dim : {4, 5}) {
    Shape s(static_cast<size_t>(dim), 1);
    s[0] = 2;
    s[1] = 3;
    s.back() = 2;
    Tensor x = seq(s, 0.7, 0.3);
    Tensor rm = zeros({3}, kF64), rv = ones({3}, kF64);
    Tensor y = F::batch_norm(x, rm, rv, {}, {}, true, 0.5, 1e-5);
    // Every channel of the result has mean 0 and biased variance 1 / (1 + eps / var).
    std::vector<int64_t> dims{0};
    for (int64_t i = 2; i < dim; ++i) dims.push_back(i);
    Tensor m = mean(y, dims);
    expect_values(m, {3}, {0, 0, 0}, 1e-12);
    Tensor xm = mean(x, dims), xv = var(x, dims, 0);
    expect_close(rm, xm * 0.5, 1e-12, 1e-12, "running_mean");
    expect_close(rv, var(x, dims, 1) * 0.5 + 0.5, 1e-12, 1e-12, "running_var");
    expect_close(var(y, dims, 0), xv / (xv + 1e-5), 1e-10, 1e-10, "normalised variance");
  }
}

TEST(BatchNorm, Gradcheck) {
  for (bool training : {true, false}) {
    for (bool affine : {true, false}) {
      expect_gradcheck(
          [training, affine](const std::vector<Tensor>& in) {
            Tensor rm = t64({0.1, -0.2, 0.3}, {3}), rv = t64({0.5, 1.5, 2}, {3});
            return std::vector<Tensor>{F::batch_norm(in[0], rm, rv, affine ? in[1] : Tensor(),
                                                     affine ? in[2] : Tensor(), training, 0.1,
                                                     1e-3)};
          },
          {seq({2, 3, 2}, 0.9, 0.1, true), seq({3}, 1.1, 0.4, true), seq({3}, 0.3, 0.2, true)});
    }
  }
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::batch_norm(in[0], {}, {}, in[1], in[2], true, 0.1, 1e-5)};
      },
      {seq({3, 2}, 0.8, 0.5, true), seq({2}, 1.3, 0.4, true), seq({2}, 0.3, 0.2, true)});
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::batch_norm(in[0], {}, {}, in[1], {}, true, 0.1, 1e-5)};
      },
      {seq({2, 2, 2, 1, 2}, 0.6, 0.5, true), seq({2}, 1.3, 0.4, true)});
}

TEST(BatchNorm, Errors) {
  Tensor x = seq({2, 3, 4}, 0.5, 0.1);
  EXPECT_THROW_MSG(F::batch_norm(x, zeros({4}, kF64), ones({3}, kF64), {}, {}, true), ValueError,
                   "batch_norm: running_mean should contain 3 elements", "[2, 3, 4]", "[4]");
  EXPECT_THROW_MSG(F::batch_norm(x, {}, {}, ones({2}, kF64), {}, true), ValueError,
                   "batch_norm: weight should contain 3 elements");
  EXPECT_THROW_MSG(F::batch_norm(seq({1, 3}, 0.5, 0.1), {}, {}, {}, {}, true), ValueError,
                   "Expected more than 1 value per channel when training, got input size [1, 3]");
  EXPECT_THROW_MSG(F::batch_norm(x, {}, {}, {}, {}, false), ValueError,
                   "running_mean and running_var must be defined");
  EXPECT_THROW_MSG(F::batch_norm(seq({3}, 0.5, 0.1), {}, {}, {}, {}, true), ValueError,
                   "at least 2 dimensions");
  EXPECT_THROW_MSG(F::batch_norm(zeros({2, 2}, DType::Int64), {}, {}, {}, {}, true), TypeError,
                   "batch_norm: expected a floating point input");
}

TEST(BatchNorm, RunningStatsUpdateRecordsNoHistory) {
  Tensor x = seq({3, 2}, 0.8, 0.5, true);
  Tensor rm = zeros({2}, kF64), rv = ones({2}, kF64);
  Tensor y = F::batch_norm(x, rm, rv, {}, {}, true, 0.1, 1e-5);
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(rm.requires_grad());
  EXPECT_FALSE(rv.requires_grad());
}

// ---------------- group_norm ----------------

TEST(GroupNorm, HandWorkedValues) {
  // [1, 4, 1] in 2 groups: {1, 3} and {2, 6} -> -1, 1 each.
  Tensor y = F::group_norm(t64({1, 3, 2, 6}, {1, 4, 1}), 2, {}, {}, 0.0);
  expect_values(y, {1, 4, 1}, {-1, 1, -1, 1}, 1e-12);
  // One group over [C=2, L=1] with per-channel affine.
  Tensor y2 = F::group_norm(t64({1, 3}, {1, 2}), 1, t64({2, 3}, {2}), t64({1, 0}, {2}), 0.0);
  expect_values(y2, {1, 2}, {-1, 3}, 1e-12);
}

TEST(GroupNorm, GradcheckAndErrors) {
  for (int64_t groups : {1, 2, 4}) {
    expect_gradcheck(
        [groups](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{F::group_norm(in[0], groups, in[1], in[2], 1e-5)};
        },
        {seq({2, 4, 3}, 0.7, 0.2, true), seq({4}, 1.1, 0.4, true), seq({4}, 0.3, 0.2, true)});
  }
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::group_norm(in[0], 2, {}, {}, 1e-5)};
      },
      {seq({1, 4, 2, 2}, 0.7, 0.2, true)});
  EXPECT_THROW_MSG(F::group_norm(seq({2, 6, 3}, 0.5, 0.1), 4), ValueError,
                   "group_norm: Expected number of channels in input to be divisible by "
                   "num_groups, but got input of shape [2, 6, 3] and num_groups=4");
  EXPECT_THROW_MSG(F::group_norm(seq({2, 6, 3}, 0.5, 0.1), 2, ones({3}, kF64)), ValueError,
                   "Expected weight to be a vector of size equal to the number of channels");
}

// ---------------- instance_norm ----------------

TEST(InstanceNorm, HandWorkedValuesAndRunningStats) {
  // [2, 1, 2]: instances {1, 3} (mean 2, unbiased var 2) and {2, 6} (mean 4, unbiased var 8).
  Tensor rm = zeros({1}, kF64), rv = ones({1}, kF64);
  Tensor y = F::instance_norm(t64({1, 3, 2, 6}, {2, 1, 2}), rm, rv, {}, {}, true, 0.1, 0.0);
  expect_values(y, {2, 1, 2}, {-1, 1, -1, 1}, 1e-12);
  expect_values(rm, {1}, {0.3}, 1e-12);  // 0.1 * mean(2, 4)
  expect_values(rv, {1}, {1.4}, 1e-12);  // 0.9 + 0.1 * mean(2, 8)
  // use_input_stats = false: the running statistics normalise.
  Tensor y2 = F::instance_norm(t64({1, 3}, {1, 1, 2}), t64({1}, {1}), t64({4}, {1}), t64({2}, {1}),
                               t64({1}, {1}), false, 0.1, 0.0);
  expect_values(y2, {1, 1, 2}, {1, 3}, 1e-12);
}

TEST(InstanceNorm, GradcheckAndErrors) {
  for (bool affine : {true, false}) {
    expect_gradcheck(
        [affine](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{F::instance_norm(in[0], {}, {}, affine ? in[1] : Tensor(),
                                                      affine ? in[2] : Tensor(), true, 0.1, 1e-5)};
        },
        {seq({2, 2, 3}, 0.7, 0.2, true), seq({2}, 1.1, 0.4, true), seq({2}, 0.3, 0.2, true)});
  }
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::instance_norm(in[0], {}, {}, {}, {}, true, 0.1, 1e-5)};
      },
      {seq({1, 2, 2, 2}, 0.7, 0.2, true)});
  EXPECT_THROW_MSG(F::instance_norm(seq({2, 3, 1}, 0.5, 0.1)), ValueError,
                   "Expected more than 1 spatial element when training, got input size [2, 3, 1]");
  EXPECT_THROW_MSG(F::instance_norm(seq({2, 3, 2}, 0.5, 0.1), {}, {}, {}, {}, false), ValueError,
                   "running_mean and running_var must be defined");
}

// ---------------- modules ----------------

TEST(BatchNormModule, StateDictReprAndTrainEval) {
  nn::BatchNorm2d bn(3);
  auto sd = bn.state_dict();
  std::vector<std::string> keys;
  for (const auto& [k, v] : sd) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"weight", "bias", "running_mean", "running_var",
                                            "num_batches_tracked"}));
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::Int64);
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  EXPECT_EQ(bn.parameters().size(), 2u);
  EXPECT_EQ(bn.repr(),
            "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  expect_values(bn.weight, {3}, {1, 1, 1}, 0);
  expect_values(bn.bias, {3}, {0, 0, 0}, 0);

  bn.to(DType::Float64);
  Tensor x = seq({2, 3, 2, 2}, 0.9, 0.1);
  bn(x);
  bn(x);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);
  // Two updates with momentum 0.1: rm = (1 - 0.9^2) * batch mean.
  expect_close(bn.running_mean, mean(x, {0, 2, 3}) * 0.19, 1e-12, 1e-12, "running_mean");
  bn.eval();
  Tensor y = bn(x);
  expect_close(y,
               (x - bn.running_mean.reshape({1, 3, 1, 1})) *
                   rsqrt(bn.running_var.reshape({1, 3, 1, 1}) + 1e-5),
               1e-12, 1e-12, "eval");
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);
  EXPECT_THROW_MSG(bn(seq({3, 2, 2}, 0.5, 0.1)), ValueError, "expected 4D input (got 3D input)");
}

TEST(BatchNormModule, CumulativeAverageAndNoTracking) {
  nn::BatchNorm1d bn(2, 1e-5, std::nullopt);
  bn.to(DType::Float64);
  EXPECT_EQ(bn.repr(),
            "BatchNorm1d(2, eps=1e-05, momentum=None, affine=True, track_running_stats=True)");
  bn(t64({1, 2, 3, 6}, {2, 2}));  // mean {2, 4}, factor 1
  bn(t64({5, 0, 7, 2}, {2, 2}));  // mean {6, 1}, factor 1/2
  expect_values(bn.running_mean, {2}, {4, 2.5}, 1e-12);
  expect_values(bn.running_var, {2}, {2, 5}, 1e-12);  // unbiased {2, 8} then {2, 2}
  EXPECT_THROW_MSG(bn(seq({2, 2, 2, 2}, 0.5, 0.1)), ValueError,
                   "expected 2D or 3D input (got 4D input)");

  nn::BatchNorm3d plain(2, 1e-5, 0.1, /*affine=*/false, /*track_running_stats=*/false);
  EXPECT_TRUE(plain.state_dict().empty());
  plain.to(DType::Float64);
  plain.eval();  // no running stats: batch statistics even in eval
  Tensor y = plain(t64({1, 3, 2, 6}, {2, 2, 1, 1, 1}));
  expect_values(y, {2, 2, 1, 1, 1}, {-1, -1, 1, 1}, 1e-5);
}

TEST(InstanceNormModule, Defaults) {
  nn::InstanceNorm2d in(2);
  EXPECT_EQ(in.repr(),
            "InstanceNorm2d(2, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)");
  EXPECT_TRUE(in.state_dict().empty());
  Tensor x = t64({1, 3, 2, 6}, {2, 1, 2});  // unbatched [C=2, H=1, W=2]
  expect_values(in(x), {2, 1, 2}, {-1, 1, -1, 1}, 1e-5);
  EXPECT_THROW_MSG(in(seq({2, 2}, 0.5, 0.1)), ValueError, "expected 3D or 4D input (got 2D input)");
  nn::InstanceNorm2d tracked(2, 1e-5, 0.1, true, true);
  EXPECT_EQ(tracked.state_dict().size(), 5u);
  EXPECT_THROW_MSG(tracked(seq({1, 3, 2, 2}, 0.5, 0.1)), ValueError,
                   "expected input's size at dim=1 to match num_features (2), but got: 3.");
}

TEST(GroupNormModule, Defaults) {
  nn::GroupNorm gn(2, 4);
  EXPECT_EQ(gn.repr(), "GroupNorm(2, 4, eps=1e-05, affine=True)");
  EXPECT_EQ(gn.state_dict().size(), 2u);
  gn.to(DType::Float64);
  expect_values(gn(t64({1, 3, 2, 6}, {1, 4, 1})), {1, 4, 1}, {-1, 1, -1, 1}, 1e-5);
  EXPECT_THROW_MSG(nn::GroupNorm(3, 4), ValueError, "num_channels must be divisible by num_groups");
}
