// In-place semantics under autograd and at the edges of what in-place writes may do.
#include <limits>

#include "test_util.h"

namespace kiln::testing {
namespace {

Tensor leaf(const std::vector<double>& v) {
  return tensor(v, {}, DType::Float64).requires_grad_(true);
}

TEST(InPlaceAutograd, ConstantOverwriteCutsTheOldHistory) {
  Tensor w = leaf({1, 2});
  Tensor y = w * 2.0;
  y.fill_(0.0);
  EXPECT_TRUE(y.requires_grad());
  sum(y * 3.0).backward();
  expect_values(w.grad(), {2}, {0, 0});  // PyTorch: fill_ sends zero to the old history
}

TEST(InPlaceAutograd, SelfAliasedOperand) {
  Tensor w = leaf({1, 2});
  Tensor y = w * 2.0;
  y.mul_(y);  // y = 4 w^2
  sum(y).backward();
  expect_values(w.grad(), {2}, {8, 16});
}

TEST(InPlaceAutograd, CopyFromNonLeafKeepsGradientsApart) {
  Tensor a = leaf({1, 1, 1});
  Tensor y = a * 2.0;
  Tensor x = zeros({3}, DType::Float64);
  x.copy_(y);
  x.retain_grad();
  (sum(x * 3.0) + sum(y * 5.0)).backward();
  expect_values(x.grad(), {3}, {3, 3, 3});
  expect_values(a.grad(), {3}, {16, 16, 16});
}

TEST(InPlaceAutograd, InPlaceOnABaseWithLiveViewsIsRefused) {
  Tensor w = leaf({1, 2, 3, 4});
  Tensor y = w * 2.0;
  Tensor v = y.view({2, 2});
  EXPECT_THROW_MSG(y.mul_(3.0), Error, "mul_", "views record gradients");
  {
    NoGradGuard no_grad;
    y.mul_(3.0);  // without history there is nothing to go stale
  }
}

TEST(InPlaceAutograd, HookResultHeldByTheUserIsNotOverwritten) {
  Tensor w = leaf({1, 2});
  Tensor held;
  w.register_hook([&](const Tensor& g) {
    held = g * 1.0;
    return held;
  });
  sum(w * 3.0).backward();
  sum(w * 3.0).backward();  // accumulates into w.grad, must not write into `held`
  expect_values(held, {2}, {3, 3});
  expect_values(w.grad(), {2}, {6, 6});
}

TEST(InPlaceChecks, DtypeAndAliasing) {
  Tensor i = arange(3);
  EXPECT_THROW_MSG(i.add_(2.5), TypeError, "add_", "float32", "int64");
  EXPECT_THROW_MSG(i.div_(2), TypeError, "div_");
  EXPECT_THROW_MSG(zeros({1}).expand({4}).add_(ones({4})), Error, "add_", "share one memory");
  Tensor x = arange(5, TensorOptions(DType::Float32));
  x.slice(0, 1).copy_(x.slice(0, 0, 4));  // overlapping source and destination
  expect_values(x, {5}, {0, 0, 1, 2, 3});
}

TEST(Semantics, ScalarOnTheLeftPromotesLikeANumber) {
  Tensor i32 = full({}, 3, DType::Int32);
  EXPECT_EQ((2 * i32).dtype(), DType::Int32);
  EXPECT_EQ((2.0 * full({}, 1.0, DType::BFloat16)).dtype(), DType::BFloat16);
  EXPECT_EQ((1.0 - ones({2}, DType::Float16)).dtype(), DType::Float16);
}

TEST(Semantics, FloorDivideMatchesPython) {
  expect_values(floor_divide(tensor({1.0, -1.0, 7.5}, {}, DType::Float64),
                             tensor({0.1, 0.1, -2.0}, {}, DType::Float64)),
                {3}, {9, -10, -4});
  const int64_t lo = std::numeric_limits<int64_t>::min();
  Tensor m = tensor(std::vector<int64_t>{lo}), minus1 = tensor(std::vector<int64_t>{-1});
  expect_values(remainder(m, minus1), {1}, {0});
  EXPECT_EQ(floor_divide(m, minus1).to_vector()[0], double(lo));  // wraps, no trap
}

TEST(Semantics, ConversionsAndLimits) {
  expect_values(tensor({-1.0, 256.0, 3.7}).to(DType::UInt8), {3}, {255, 0, 3});
  EXPECT_THROW_MSG(zeros({int64_t(1) << 62, 4}), ValueError, "too many elements");
  EXPECT_THROW_MSG(zeros({int64_t(1) << 62}), ValueError, "too large");  // bytes overflow
  EXPECT_THROW_MSG(scalar_tensor(1.0).size(0), ValueError, "0-d");
  EXPECT_THROW_MSG(ones({1}).expand({-2}), ValueError, "expand", "-2");
  EXPECT_THROW_MSG(scalar_tensor(1.0).transpose(0, 3), ValueError, "transpose");
}

TEST(Semantics, ZeroSizeBroadcastGradient) {
  Tensor x = zeros({0}, DType::Float64).requires_grad_(true);
  sum(x + zeros({2, 0}, DType::Float64)).backward();
  EXPECT_EQ(x.grad().shape(), (Shape{0}));
}

TEST(Semantics, GradDoesNotRunTheCapturedNode) {
  // The captured non-leaf's own node would fail (its saved input was modified), but grad()
  // stops there.
  Tensor w = leaf({1, 2});
  Tensor a = w * 1.0;
  Tensor h = a * a;  // saves a
  {
    NoGradGuard no_grad;
    a.add_(1.0);
  }
  auto g = autograd::grad({sum(h * 2.0)}, {h});
  expect_values(g[0], {2}, {2, 2});
}

}  // namespace
}  // namespace kiln::testing
