// Edge cases every op must survive: empty tensors, 0-d tensors, undefined tensors, special
// floating values. The answer is a value or a kiln::Error, never a crash.
#include <cmath>

#include "test_util.h"

namespace kiln::testing {
namespace {

TEST(EdgeCases, EmptyTensorsFlowThroughOps) {
  Tensor e = zeros({0, 3});
  EXPECT_EQ(relu(e).shape(), (Shape{0, 3}));
  EXPECT_EQ((e + ones({3})).shape(), (Shape{0, 3}));
  expect_values(sum(e, {0}), {3}, {0, 0, 0});
  expect_values(prod(e, 0), {3}, {1, 1, 1});
  EXPECT_TRUE(std::isnan(mean(e).item()));
  EXPECT_EQ(softmax(e, 1).shape(), (Shape{0, 3}));
  EXPECT_EQ(matmul(e, ones({3, 2})).shape(), (Shape{0, 2}));
  expect_values(matmul(zeros({2, 0}), zeros({0, 2})), {2, 2}, {0, 0, 0, 0});
  EXPECT_EQ(cat({e, ones({2, 3})}, 0).shape(), (Shape{2, 3}));
  EXPECT_EQ(e.t().contiguous().shape(), (Shape{3, 0}));
  EXPECT_EQ(index_select(ones({3, 2}), 0, zeros({0}, DType::Int64)).shape(), (Shape{0, 2}));
  EXPECT_EQ(e.reshape({3, 0, 5}).numel(), 0);
  EXPECT_EQ(arange(0).numel(), 0);
  Tensor g = zeros({0, 3}, DType::Float64).requires_grad_(true);
  sum(g * 2.0).backward();
  EXPECT_EQ(g.grad().shape(), (Shape{0, 3}));
  EXPECT_THROW_MSG(amax(e, {0}), Error, "amax");
  EXPECT_THROW_MSG(max(e, 0), Error, "max");
}

TEST(EdgeCases, ZeroDimTensors) {
  Tensor s = scalar_tensor(2.0, DType::Float64).requires_grad_(true);
  Tensor y = exp(s) * s;
  EXPECT_EQ(y.dim(), 0);
  y.backward();
  EXPECT_NEAR(s.grad().item(), 3 * std::exp(2.0), 1e-12);
  EXPECT_EQ(sum(s).dim(), 0);
  EXPECT_EQ(s.unsqueeze(0).shape(), (Shape{1}));
  EXPECT_EQ(s.reshape({1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(softmax(s, 0).item(), 1.0);
  EXPECT_THROW_MSG(s.select(0, 0), ValueError, "select", "0-d");
  EXPECT_THROW_MSG(matmul(s, ones({2})), Error, "matmul");
}

TEST(EdgeCases, UndefinedTensorsAreErrors) {
  Tensor u;
  EXPECT_THROW(relu(u), Error);
  EXPECT_THROW(add(u, ones({2})), Error);
  EXPECT_THROW(sum(u), Error);
  EXPECT_THROW(softmax(u, 0), Error);
  EXPECT_THROW(matmul(u, ones({2})), Error);
  EXPECT_THROW(cat({u, ones({2})}), Error);
  EXPECT_THROW(index_select(ones({2}), 0, u), Error);
  EXPECT_THROW(u.view({1}), Error);
  EXPECT_THROW((void)u.shape(), Error);
  EXPECT_EQ(u.str(), "tensor(undefined)");
}

TEST(EdgeCases, SpecialValues) {
  Tensor x = tensor({INFINITY, -INFINITY, NAN, 0.0});
  expect_values(relu(x), {4}, {INFINITY, 0, NAN, 0});
  expect_values(sigmoid(x), {4}, {1, 0, NAN, 0.5});
  expect_values(tanh(x), {4}, {1, -1, NAN, 0});
  expect_values(exp(tensor({-INFINITY})), {1}, {0});
  expect_values(log(tensor({0.0})), {1}, {-INFINITY});
  expect_values(softmax(tensor({1000.0, 1000.0}), 0), {2}, {0.5, 0.5});
  expect_values(log_softmax(tensor({1000.0, 0.0}), 0), {2}, {0, -1000});
  expect_values(logsumexp(tensor({-INFINITY, -INFINITY}), {0}), {}, {-INFINITY});
  expect_values(clamp(tensor({NAN}), 0.0, 1.0), {1}, {NAN});
  expect_values(amax(tensor({1.0, NAN, 3.0}), {0}), {}, {NAN});
  expect_values(softplus(tensor({-1000.0})), {1}, {0});
  expect_values(std(tensor({1.0})), {}, {NAN});  // one sample, correction 1
}

}  // namespace
}  // namespace kiln::testing
