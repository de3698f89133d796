// Reductions and softmax: values against hand-computed numbers, shapes (keepdim, negative and
// repeated dims, 0-d inputs), strided inputs, NaN handling, dtypes, error messages, and a few
// gradients whose values are known in closed form (finite-difference gradchecks live in the
// central op table).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/ops.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// [[1, 2, 3], [4, 5, 6]]
Tensor x23(DType dtype = DType::Float32) {
  return tensor({1, 2, 3, 4, 5, 6}, {2, 3}, TensorOptions(dtype));
}

Tensor leaf(const std::vector<double>& v, const Shape& shape) {
  return tensor(v, shape, TensorOptions(DType::Float64, Device::cpu(), true));
}

}  // namespace

// Expects `stmt` to throw a kiln::Error whose message contains each of the given substrings.
#define EXPECT_KILN_ERROR(stmt, ...)                                         \
  do {                                                                       \
    bool thrown_ = false;                                                    \
    try {                                                                    \
      stmt;                                                                  \
    } catch (const ::kiln::Error& e_) {                                      \
      thrown_ = true;                                                        \
      for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__}) \
        EXPECT_NE(std::string(e_.what()).find(part_), std::string::npos)     \
            << "message \"" << e_.what() << "\" lacks \"" << part_ << "\"";  \
    }                                                                        \
    EXPECT_TRUE(thrown_) << #stmt " did not throw a kiln::Error";            \
  } while (0)

// ---------------- sum ----------------

TEST(Sum, AllAndSingleDims) {
  Tensor x = x23();
  expect_values(sum(x), {}, {21});
  expect_values(sum(x, {0}), {3}, {5, 7, 9});
  expect_values(sum(x, {1}), {2}, {6, 15});
  expect_values(sum(x, {-1}), {2}, {6, 15});
  expect_values(sum(x, {-2}), {3}, {5, 7, 9});
  EXPECT_EQ(sum(x).dtype(), DType::Float32);
}

TEST(Sum, Keepdim) {
  Tensor x = x23();
  expect_values(sum(x, {1}, true), {2, 1}, {6, 15});
  expect_values(sum(x, {0}, true), {1, 3}, {5, 7, 9});
  expect_values(sum(x, {}, true), {1, 1}, {21});
}

TEST(Sum, MultipleDims) {
  // x[i][j][k] = 12i + 4j + k
  Tensor x = arange(24, TensorOptions(DType::Float64)).reshape({2, 3, 4});
  // sum over i and k: 32j + 60
  expect_values(sum(x, {0, 2}), {3}, {60, 92, 124});
  expect_values(sum(x, {2, 0}), {3}, {60, 92, 124});
  expect_values(sum(x, {-1, 0}, true), {1, 3, 1}, {60, 92, 124});
  expect_values(sum(x, {0, 1, 2}), {}, {276});
  // sum over j: 36i + 3k + 12
  expect_values(sum(x, {1}), {2, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
}

TEST(Sum, NonContiguousInput) {
  Tensor xt = transpose(x23(), 0, 1);  // [[1, 4], [2, 5], [3, 6]]
  ASSERT_FALSE(xt.is_contiguous());
  expect_values(sum(xt, {0}), {2}, {6, 15});
  expect_values(sum(xt, {1}), {3}, {5, 7, 9});
  expect_values(sum(xt), {}, {21});
  // A permuted 3-D tensor reduced over non-adjacent dims.
  Tensor x = arange(24, TensorOptions(DType::Float64)).reshape({2, 3, 4}).permute({2, 0, 1});
  expect_values(sum(x, {0, 1}), {3}, {60, 92, 124});
  // A strided slice: every other column of [[0..5], [6..11]].
  Tensor s = arange(12, TensorOptions(DType::Float32)).reshape({2, 6}).slice(1, 0, 6, 2);
  expect_values(sum(s, {1}), {2}, {0 + 2 + 4, 6 + 8 + 10});
}

TEST(Sum, ExpandedInput) {
  Tensor x = expand(tensor({1, 2, 3}, {3, 1}), {3, 4});  // stride 0 along dim 1
  expect_values(sum(x, {1}), {3}, {4, 8, 12});
  expect_values(sum(x, {0}), {4}, {6, 6, 6, 6});
  expect_values(sum(x), {}, {24});
}

TEST(Sum, Dtypes) {
  Tensor i = tensor(std::vector<int64_t>{1, 2, 3, 4}, {2, 2});
  Tensor si = sum(i, {0});
  EXPECT_EQ(si.dtype(), DType::Int64);
  expect_values(si, {2}, {4, 6});
  Tensor b = tensor(std::vector<int64_t>{1, 0, 1, 1}).to(DType::Bool);
  Tensor sb = sum(b);
  EXPECT_EQ(sb.dtype(), DType::Int64);  // counts, like PyTorch
  expect_values(sb, {}, {3});
  Tensor i32 = tensor(std::vector<int64_t>{1, 2, 3}).to(DType::Int32);
  EXPECT_EQ(sum(i32).dtype(), DType::Int64);
  Tensor sd = sum(x23(), {}, false, DType::Float64);
  EXPECT_EQ(sd.dtype(), DType::Float64);
  expect_values(sd, {}, {21});
}

TEST(Sum, BFloat16AccumulatesInHighPrecision) {
  // A bfloat16 accumulator would stall at 256 (256 + 1 rounds back to 256).
  Tensor x = ones({1000}, TensorOptions(DType::BFloat16));
  Tensor s = sum(x);
  EXPECT_EQ(s.dtype(), DType::BFloat16);
  expect_values(s, {}, {1000});
  Tensor h = ones({10, 300}, TensorOptions(DType::Float16));
  expect_values(sum(h, {1}), {10}, std::vector<double>(10, 300));
}

TEST(Sum, LargeInputsAllPaths) {
  // One output over many elements (the split path).
  const int64_t n = 200000;
  Tensor a = arange(double(n), TensorOptions(DType::Float64));
  expect_values(sum(a), {}, {double(n) * double(n - 1) / 2});
  Tensor f = ones({n}, TensorOptions(DType::Float32));
  expect_values(sum(f), {}, {double(n)});
  // Reducing the outer dim of a [B, C] tensor (the lane path), C not a multiple of the lanes.
  Tensor m = ones({1000, 70});
  expect_values(sum(m, {0}), {70}, std::vector<double>(70, 1000));
  expect_values(sum(m, {1}), {1000}, std::vector<double>(1000, 70));
  // Many outputs (the parallel per-output path).
  Tensor r = arange(double(4 * 50000), TensorOptions(DType::Float64)).reshape({50000, 4});
  Tensor rs = sum(r, {1});
  std::vector<double> v = rs.to_vector();
  ASSERT_EQ(v.size(), 50000u);
  EXPECT_EQ(v[0], 6);
  EXPECT_EQ(v[49999], 4.0 * 4 * 49999 + 6);
  // Integers sum exactly.
  Tensor big = full({3}, int64_t(1) << 40, DType::Int64);
  EXPECT_EQ(sum(big).item<int64_t>(), int64_t(3) << 40);
}

TEST(Sum, EmptyAndZeroDim) {
  Tensor e = zeros({0, 3});
  expect_values(sum(e, {0}), {3}, {0, 0, 0});
  expect_values(sum(e), {}, {0});
  expect_values(sum(e, {1}), {0}, {});
  Tensor s = scalar_tensor(3.5);
  expect_values(sum(s), {}, {3.5});
  expect_values(sum(s, {0}), {}, {3.5});
  expect_values(sum(s, {-1}, true), {}, {3.5});
}

TEST(Sum, Backward) {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  sum(x, {1}).backward(tensor({1, 2}, {2}, TensorOptions(DType::Float64)));
  expect_values(x.grad(), {2, 3}, {1, 1, 1, 2, 2, 2});
  Tensor y = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  sum(y).backward();
  expect_values(y.grad(), {2, 3}, {1, 1, 1, 1, 1, 1});
}

TEST(Sum, Errors) {
  Tensor x = x23();
  EXPECT_KILN_ERROR(sum(x, {2}), "sum", "dimension 2 is out of range", "[2, 3]");
  EXPECT_KILN_ERROR(sum(x, {-3}), "sum", "out of range", "[2, 3]");
  EXPECT_KILN_ERROR(sum(x, {0, 0}), "sum", "more than once", "[2, 3]");
  EXPECT_KILN_ERROR(sum(x, {1, -1}), "sum", "more than once", "[2, 3]");
  EXPECT_KILN_ERROR(sum(scalar_tensor(1.0), {1}), "sum", "out of range", "[]");
  EXPECT_KILN_ERROR(sum(Tensor()), "sum");
}

// ---------------- mean ----------------

TEST(Mean, Values) {
  Tensor x = x23();
  expect_values(mean(x), {}, {3.5});
  expect_values(mean(x, {0}), {3}, {2.5, 3.5, 4.5});
  expect_values(mean(x, {1}, true), {2, 1}, {2, 5});
  expect_values(mean(x, {-1}), {2}, {2, 5});
  expect_values(mean(transpose(x, 0, 1), {0}), {2}, {2, 5});
  expect_values(mean(scalar_tensor(2.5)), {}, {2.5});
  Tensor b = x23(DType::BFloat16);
  Tensor mb = mean(b, {1});
  EXPECT_EQ(mb.dtype(), DType::BFloat16);
  expect_values(mb, {2}, {2, 5});
  expect_values(mean(zeros({0})), {}, {kNaN});  // 0 / 0, like PyTorch
}

TEST(Mean, Errors) {
  Tensor i = tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_KILN_ERROR(mean(i), "mean", "expected a floating point", "got int64", "[2, 3]");
  EXPECT_KILN_ERROR(mean(x23(), {5}), "mean", "out of range", "[2, 3]");
}

// ---------------- prod ----------------

TEST(Prod, Values) {
  Tensor x = x23();
  expect_values(prod(x), {}, {720});
  expect_values(prod(x, 1), {2}, {6, 120});
  expect_values(prod(x, -1), {2}, {6, 120});
  expect_values(prod(x, 0, true), {1, 3}, {4, 10, 18});
  expect_values(prod(transpose(x, 0, 1), 0), {2}, {6, 120});
  expect_values(prod(x, std::nullopt, true), {}, {720});  // keepdim only applies with a dim
  expect_values(prod(tensor({2, 0, 3})), {}, {0});
  expect_values(prod(zeros({0, 2}), 0), {2}, {1, 1});
  Tensor i = tensor(std::vector<int64_t>{2, 3, 4});
  EXPECT_EQ(prod(i).dtype(), DType::Int64);
  expect_values(prod(i), {}, {24});
  expect_values(prod(scalar_tensor(3.0), 0), {}, {3});
}

TEST(Prod, BackwardWithZeros) {
  Tensor a = leaf({2, 3, 4}, {3});
  prod(a).backward();
  expect_values(a.grad(), {3}, {12, 8, 6});
  Tensor b = leaf({2, 0, 3}, {3});  // exactly one zero: only it gets a gradient
  prod(b).backward();
  expect_values(b.grad(), {3}, {0, 6, 0});
  Tensor c = leaf({0, 0, 3}, {3});  // two zeros: every gradient is 0
  prod(c).backward();
  expect_values(c.grad(), {3}, {0, 0, 0});
  Tensor d = leaf({1, 0, 3, 4, 5, 6}, {2, 3});  // per row, along dim 1
  prod(d, 1).backward(tensor({1, 1}, {2}, TensorOptions(DType::Float64)));
  expect_values(d.grad(), {2, 3}, {0, 3, 0, 30, 24, 20});
}

TEST(Prod, Errors) { EXPECT_KILN_ERROR(prod(x23(), 2), "prod", "out of range", "[2, 3]"); }

// ---------------- var / std ----------------

TEST(VarStd, Values) {
  Tensor x = x23(DType::Float64);
  expect_values(var(x), {}, {3.5});  // squared deviations sum to 17.5, / (6 - 1)
  expect_values(var(x, {1}), {2}, {1, 1});
  expect_values(var(x, {0}), {3}, {4.5, 4.5, 4.5});
  expect_values(var(x, {1}, 0), {2}, {2.0 / 3, 2.0 / 3});
  expect_values(var(x, {-1}, 1, true), {2, 1}, {1, 1});
  expect_values(kiln::std(x), {}, {std::sqrt(3.5)});
  expect_values(kiln::std(x, {0}), {3}, {std::sqrt(4.5), std::sqrt(4.5), std::sqrt(4.5)});
  expect_values(kiln::std(x, {1}, 0, true), {2, 1}, {std::sqrt(2.0 / 3), std::sqrt(2.0 / 3)});
  expect_values(var(transpose(x, 0, 1), {1}), {3}, {4.5, 4.5, 4.5});
  expect_values(var(x23(DType::BFloat16), {1}), {2}, {1, 1});
  expect_values(var(scalar_tensor(1.0)), {}, {kNaN});  // N - correction = 0
}

TEST(VarStd, StdGradientIsZeroForConstantInput) {
  Tensor x = leaf({2, 2, 2}, {3});
  kiln::std(x).backward();
  expect_values(x.grad(), {3}, {0, 0, 0});
  Tensor y = leaf({1, 3}, {2});  // std = sqrt(2); d/dy = (y - mean) / (std * (N - 1))
  kiln::std(y).backward();
  expect_values(y.grad(), {2}, {-1 / std::sqrt(2.0), 1 / std::sqrt(2.0)});
}

TEST(VarStd, Errors) {
  Tensor i = tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_KILN_ERROR(var(i), "var", "floating point", "int64", "[2, 3]");
  EXPECT_KILN_ERROR(kiln::std(i), "std", "floating point", "int64", "[2, 3]");
  EXPECT_KILN_ERROR(var(x23(), {0, -2}), "var", "more than once", "[2, 3]");
}

// ---------------- amax / amin / max / min ----------------

TEST(Amax, Values) {
  Tensor x = tensor({1, 5, 3, 4, 2, 6}, {2, 3});
  expect_values(amax(x), {}, {6});
  expect_values(amax(x, {0}), {3}, {4, 5, 6});
  expect_values(amax(x, {1}), {2}, {5, 6});
  expect_values(amin(x, {1}, true), {2, 1}, {1, 2});
  expect_values(amin(x, {0, 1}), {}, {1});
  expect_values(amax(transpose(x, 0, 1), {0}), {2}, {5, 6});
  expect_values(amin(transpose(x, 0, 1), {1}), {3}, {1, 2, 3});
  expect_values(amax(scalar_tensor(-2.0), {0}), {}, {-2});
  Tensor i = tensor(std::vector<int64_t>{-7, 3, 9, -1}, {2, 2});
  EXPECT_EQ(amax(i).dtype(), DType::Int64);
  expect_values(amax(i, {1}), {2}, {3, 9});
  expect_values(amin(i, {0}), {2}, {-7, -1});
  Tensor neg = tensor({-kInf, -5});
  expect_values(amax(neg), {}, {-5});
  expect_values(amin(neg), {}, {-kInf});
}

TEST(Amax, NaNPropagates) {
  Tensor x = tensor({1, kNaN, 3, 4, 5, 6}, {2, 3});
  expect_values(amax(x, {1}), {2}, {kNaN, 6});
  expect_values(amin(x, {1}), {2}, {kNaN, 4});
  expect_values(amax(x), {}, {kNaN});
  expect_values(max(x), {}, {kNaN});
  expect_values(amax(tensor({kNaN, 1}), {0}), {}, {kNaN});
}

TEST(Amax, BackwardSplitsTies) {
  Tensor x = leaf({1, 3, 3}, {3});
  amax(x).backward();
  expect_values(x.grad(), {3}, {0, 0.5, 0.5});
  Tensor y = leaf({1, 3, 2, 2, 0, 5}, {2, 3});
  amin(y, {1}).backward(tensor({1, 1}, {2}, TensorOptions(DType::Float64)));
  expect_values(y.grad(), {2, 3}, {1, 0, 0, 0, 1, 0});
  Tensor z = leaf({4, 1, 4, 4}, {4});
  max(z).backward();
  expect_values(z.grad(), {4}, {1.0 / 3, 0, 1.0 / 3, 1.0 / 3});
}

TEST(Amax, Errors) {
  EXPECT_KILN_ERROR(amax(zeros({0, 3}), {0}), "amax", "size 0", "[0, 3]");
  EXPECT_KILN_ERROR(amin(zeros({2, 3}), {2}), "amin", "out of range", "[2, 3]");
  EXPECT_KILN_ERROR(max(zeros({0})), "max", "non-empty", "[0]");
  EXPECT_KILN_ERROR(min(zeros({2, 0})), "min", "non-empty", "[2, 0]");
}

TEST(MaxMin, FullReductions) {
  Tensor x = tensor({1, 5, 3, 4, 2, 6}, {2, 3});
  expect_values(max(x), {}, {6});
  expect_values(min(x), {}, {1});
  expect_values(max(transpose(x, 0, 1)), {}, {6});
}

TEST(MaxDim, ValuesAndIndices) {
  Tensor x = tensor({1, 5, 5, 7, 2, 7}, {2, 3});
  auto [v, i] = max(x, 1);
  expect_values(v, {2}, {5, 7});
  EXPECT_EQ(i.dtype(), DType::Int64);
  expect_values(i, {2}, {1, 0});  // first occurrence of a tie
  auto [v2, i2] = min(x, 1, true);
  expect_values(v2, {2, 1}, {1, 2});
  expect_values(i2, {2, 1}, {0, 1});
  auto [v3, i3] = max(x, 0);
  expect_values(v3, {3}, {7, 5, 7});
  expect_values(i3, {3}, {1, 0, 1});
  auto [v4, i4] = max(x, -1);
  expect_values(i4, {2}, {1, 0});
  auto [v5, i5] = min(transpose(x, 0, 1), 0);  // columns of the transpose are the rows of x
  expect_values(v5, {2}, {1, 2});
  expect_values(i5, {2}, {0, 1});
  auto [v6, i6] = max(scalar_tensor(3.0), 0);
  expect_values(v6, {}, {3});
  expect_values(i6, {}, {0});
  auto [v7, i7] = max(tensor(std::vector<int64_t>{3, -1, 8, 8}), 0);
  EXPECT_EQ(v7.dtype(), DType::Int64);
  expect_values(v7, {}, {8});
  expect_values(i7, {}, {2});
}

TEST(MaxDim, NaNWinsAtItsFirstIndex) {
  Tensor x = tensor({1, kNaN, 3, kNaN, 2, 0, 5, 4}, {2, 4});
  auto [v, i] = max(x, 1);
  expect_values(v, {2}, {kNaN, 5});
  expect_values(i, {2}, {1, 2});
  auto [v2, i2] = min(x, 1);
  expect_values(v2, {2}, {kNaN, 0});
  expect_values(i2, {2}, {1, 1});
}

TEST(MaxDim, BackwardGoesToTheIndex) {
  Tensor x = leaf({1, 5, 5, 7, 2, 7}, {2, 3});
  auto [v, i] = max(x, 1);
  sum(v).backward();
  expect_values(x.grad(), {2, 3}, {0, 1, 0, 1, 0, 0});
  Tensor y = leaf({1, 5, 5, 7, 2, 7}, {2, 3});
  auto [w, j] = min(y, 0, true);
  w.backward(tensor({1, 2, 3}, {1, 3}, TensorOptions(DType::Float64)));
  expect_values(y.grad(), {2, 3}, {1, 0, 3, 0, 2, 0});
}

TEST(MaxDim, Errors) {
  EXPECT_KILN_ERROR(max(x23(), 2), "max", "out of range", "[2, 3]");
  EXPECT_KILN_ERROR(min(zeros({2, 0}), 1), "min", "size 0", "[2, 0]");
}

TEST(Argmax, Values) {
  Tensor x = tensor({1, 5, 3, 4, 2, 6}, {2, 3});
  Tensor a = argmax(x);
  EXPECT_EQ(a.dtype(), DType::Int64);
  expect_values(a, {}, {5});
  expect_values(argmin(x), {}, {0});
  expect_values(argmax(x, 1), {2}, {1, 2});
  expect_values(argmin(x, 1), {2}, {0, 1});
  expect_values(argmax(x, 0, true), {1, 3}, {1, 0, 1});
  expect_values(argmax(x, std::nullopt, true), {1, 1}, {5});
  expect_values(argmax(transpose(x, 0, 1)), {}, {5});  // flattened [1, 4, 5, 2, 3, 6]
  expect_values(argmin(transpose(x, 0, 1)), {}, {0});
  expect_values(argmax(tensor({2, 7, 7})), {}, {1});
  expect_values(argmax(scalar_tensor(4.0)), {}, {0});
  Tensor r = tensor({1, 2, 3}, {3}, TensorOptions(DType::Float64, Device::cpu(), true));
  EXPECT_FALSE(argmax(r).requires_grad());
}

TEST(Argmax, Errors) {
  EXPECT_KILN_ERROR(argmax(zeros({0})), "argmax", "non-empty", "[0]");
  EXPECT_KILN_ERROR(argmin(x23(), 3), "argmin", "out of range", "[2, 3]");
}

// ---------------- logsumexp ----------------

TEST(Logsumexp, Values) {
  Tensor x = tensor({0, 0, 1, 2}, {2, 2});
  const double r1 = 2 + std::log(1 + std::exp(-1.0));
  expect_values(logsumexp(x, {1}), {2}, {std::log(2.0), r1});
  expect_values(logsumexp(x, {-1}, true), {2, 1}, {std::log(2.0), r1});
  expect_values(logsumexp(x, {0}), {2},
                {1 + std::log(1 + std::exp(-1.0)), 2 + std::log(1 + std::exp(-2.0))});
  expect_values(logsumexp(x, {}), {}, {std::log(2 + std::exp(1.0) + std::exp(2.0))});
  expect_values(logsumexp(transpose(x, 0, 1), {0}), {2}, {std::log(2.0), r1});
  // Stable for large values.
  expect_values(logsumexp(tensor({1000, 1000}), {0}), {}, {1000 + std::log(2.0)}, 1e-5);
  expect_values(logsumexp(tensor({-1000, -1000}), {0}), {}, {-1000 + std::log(2.0)}, 1e-5);
}

TEST(Logsumexp, Infinities) {
  Tensor x = tensor({-kInf, -kInf, kInf, 1, -kInf, 0}, {3, 2});
  expect_values(logsumexp(x, {1}), {3}, {-kInf, kInf, 0});
  expect_values(logsumexp(tensor({kNaN, 1}), {0}), {}, {kNaN});
}

TEST(Logsumexp, IntegerInputGivesFloat) {
  Tensor i = tensor(std::vector<int64_t>{0, 0});
  Tensor r = logsumexp(i, {0});
  EXPECT_EQ(r.dtype(), DType::Float32);
  expect_values(r, {}, {std::log(2.0)});
}

TEST(Logsumexp, GradientIsSoftmax) {
  Tensor x = leaf({0, 1, 2}, {3});
  logsumexp(x, {0}).backward();
  const double s = 1 + std::exp(1.0) + std::exp(2.0);
  expect_values(x.grad(), {3}, {1 / s, std::exp(1.0) / s, std::exp(2.0) / s});
}

TEST(Logsumexp, Errors) {
  EXPECT_KILN_ERROR(logsumexp(x23(), {2}), "logsumexp", "out of range", "[2, 3]");
}

// ---------------- norm ----------------

TEST(Norm, Values) {
  Tensor v = tensor({3, -4, 0});
  expect_values(norm(v), {}, {5});
  expect_values(norm(v, 1), {}, {7});
  expect_values(norm(v, INFINITY), {}, {4});
  expect_values(norm(v, -INFINITY), {}, {0});
  expect_values(norm(tensor({3, -4}), -INFINITY), {}, {3});
  expect_values(norm(v, 0), {}, {2});
  expect_values(norm(v, 3), {}, {std::cbrt(91.0)});
  expect_values(norm(v, 0.5), {}, {std::pow(std::sqrt(3.0) + 2, 2)});
  Tensor m = tensor({3, 4, 6, 8}, {2, 2});
  expect_values(norm(m, 2, {1}), {2}, {5, 10});
  expect_values(norm(m, 2, {-1}, true), {2, 1}, {5, 10});
  expect_values(norm(m, 1, {0}), {2}, {9, 12});
  expect_values(norm(m, 2, {0, 1}), {}, {std::sqrt(125.0)});
  expect_values(norm(transpose(m, 0, 1), 2, {0}), {2}, {5, 10});
  Tensor b = norm(tensor({3, 4}, {2}, TensorOptions(DType::BFloat16)));
  EXPECT_EQ(b.dtype(), DType::BFloat16);
  expect_values(b, {}, {5});
}

TEST(Norm, Gradients) {
  Tensor z = leaf({0, 0, 0}, {3});  // the 2-norm's gradient at 0 is 0, not NaN
  norm(z).backward();
  expect_values(z.grad(), {3}, {0, 0, 0});
  Tensor x = leaf({3, -4}, {2});
  norm(x).backward();
  expect_values(x.grad(), {2}, {0.6, -0.8});
  Tensor y = leaf({3, -4}, {2});
  norm(y, 3).backward();  // x |x| / ||x||_3^2
  const double n3 = std::cbrt(91.0);
  expect_values(y.grad(), {2}, {9 / (n3 * n3), -16 / (n3 * n3)});
  Tensor c = leaf({3, 0}, {2});
  norm(c, 0).backward();
  expect_values(c.grad(), {2}, {0, 0});
}

TEST(Norm, Errors) {
  Tensor i = tensor(std::vector<int64_t>{1, 2}, {2});
  EXPECT_KILN_ERROR(norm(i), "norm", "floating point", "[2]");
  EXPECT_KILN_ERROR(norm(x23(), 2, {4}), "norm", "out of range", "[2, 3]");
  EXPECT_KILN_ERROR(norm(zeros({0}), INFINITY), "norm", "[0]");
}

// ---------------- sum_to ----------------

TEST(SumTo, Values) {
  Tensor x = ones({2, 3, 4});
  expect_values(sum_to(x, {3, 1}), {3, 1}, {8, 8, 8});
  expect_values(sum_to(x, {4}), {4}, {6, 6, 6, 6});
  expect_values(sum_to(x, {}), {}, {24});
  expect_values(sum_to(x, {1, 3, 1}), {1, 3, 1}, {8, 8, 8});
  EXPECT_TRUE(sum_to(x, {2, 3, 4}).is_same(x));
  expect_values(sum_to(x23(), {1, 3}), {1, 3}, {5, 7, 9});
}

TEST(SumTo, IsDifferentiable) {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  sum_to(x, {3}).backward(tensor({1, 2, 3}, {3}, TensorOptions(DType::Float64)));
  expect_values(x.grad(), {2, 3}, {1, 2, 3, 1, 2, 3});
}

TEST(SumTo, Errors) {
  EXPECT_KILN_ERROR(sum_to(ones({2, 3}), {2}), "sum_to", "[2, 3]", "[2]");
  EXPECT_KILN_ERROR(sum_to(ones({3}), {2, 3}), "sum_to", "[3]", "[2, 3]");
}

// ---------------- softmax / log_softmax ----------------

TEST(Softmax, Values) {
  Tensor x = tensor({1, 2, 3, 1, 1, 1}, {2, 3});
  const double s = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const double a = std::exp(1.0) / s, b = std::exp(2.0) / s, c = std::exp(3.0) / s;
  expect_values(softmax(x, 1), {2, 3}, {a, b, c, 1.0 / 3, 1.0 / 3, 1.0 / 3});
  expect_values(softmax(x, -1), {2, 3}, {a, b, c, 1.0 / 3, 1.0 / 3, 1.0 / 3});
  expect_values(
      log_softmax(x, 1), {2, 3},
      {std::log(a), std::log(b), std::log(c), -std::log(3.0), -std::log(3.0), -std::log(3.0)});
  // Along dim 0: pairs (1, 1), (2, 1), (3, 1).
  const double p2 = std::exp(1.0) / (1 + std::exp(1.0)), p3 = std::exp(2.0) / (1 + std::exp(2.0));
  expect_values(softmax(x, 0), {2, 3}, {0.5, p2, p3, 0.5, 1 - p2, 1 - p3});
  // A transposed input: softmax over dim 0 of x^T is softmax over dim 1 of x, transposed.
  expect_values(softmax(transpose(x, 0, 1), 0), {3, 2}, {a, 1.0 / 3, b, 1.0 / 3, c, 1.0 / 3});
  expect_values(softmax(scalar_tensor(5.0), 0), {}, {1});
  expect_values(log_softmax(scalar_tensor(5.0), -1), {}, {0});
}

TEST(Softmax, Stability) {
  Tensor x = tensor({1000, 1000, -kInf});
  expect_values(softmax(x, 0), {3}, {0.5, 0.5, 0});
  expect_values(log_softmax(x, 0), {3}, {-std::log(2.0), -std::log(2.0), -kInf});
  Tensor d = tensor({-1000, -1001}, {2}, TensorOptions(DType::Float64));
  expect_values(log_softmax(d, 0), {2},
                {-std::log(1 + std::exp(-1.0)), -1 - std::log(1 + std::exp(-1.0))});
  expect_values(softmax(tensor({1, kNaN}), 0), {2}, {kNaN, kNaN});
}

TEST(Softmax, NonLastDimMatchesComposite) {
  // Softmax over a middle dim of a wider tensor (rows processed side by side in the kernel),
  // against exp(x - logsumexp(x)), and along the last dim of a transposed copy.
  Tensor x = randn({2, 5, 70}, TensorOptions(DType::Float64));
  Tensor y = softmax(x, 1);
  Tensor ref = exp(x - logsumexp(x, {1}, true));
  EXPECT_TRUE(allclose(y, ref, 1e-12, 1e-12));
  expect_values(sum(y, {1}), {2, 70}, std::vector<double>(140, 1.0), 1e-12);
  Tensor yt = softmax(contiguous(transpose(x, 1, 2)), 2);
  EXPECT_TRUE(allclose(transpose(yt, 1, 2), y, 1e-12, 1e-12));
  EXPECT_TRUE(allclose(log_softmax(x, 1), x - logsumexp(x, {1}, true), 1e-12, 1e-12));
  // A NaN poisons only its own column (softmax over dim 0 of [[1, 2], [NaN, 4]]).
  Tensor n = tensor({1, 2, kNaN, 4}, {2, 2});
  const double e2 = std::exp(2.0);
  expect_values(softmax(n, 0), {2, 2}, {kNaN, 1 / (1 + e2), kNaN, e2 / (1 + e2)});
}

TEST(Softmax, LowPrecision) {
  for (DType t : {DType::BFloat16, DType::Float16}) {
    Tensor x = tensor({1, 2, 3}, {3}, TensorOptions(t));
    Tensor y = softmax(x, 0);
    EXPECT_EQ(y.dtype(), t);
    const double s = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    expect_values(y, {3}, {std::exp(1.0) / s, std::exp(2.0) / s, std::exp(3.0) / s}, 1e-2);
    expect_values(log_softmax(x, 0), {3}, {1 - std::log(s), 2 - std::log(s), 3 - std::log(s)},
                  1e-2);
  }
}

TEST(Softmax, Backward) {
  // sum over rows of log_softmax: d/dx_j = 1 - n * softmax_j.
  Tensor x = leaf({0, 1, 2}, {3});
  sum(log_softmax(x, 0)).backward();
  const double s = 1 + std::exp(1.0) + std::exp(2.0);
  expect_values(x.grad(), {3}, {1 - 3 / s, 1 - 3 * std::exp(1.0) / s, 1 - 3 * std::exp(2.0) / s});
  // The softmax sums to 1, so the gradient of its sum is 0.
  Tensor y = leaf({0, 1, 2, 3}, {2, 2});
  sum(softmax(y, 1)).backward();
  expect_values(y.grad(), {2, 2}, {0, 0, 0, 0}, 1e-12);
  // d softmax_0 / dx = p0 (e_0 - p).
  Tensor z = leaf({0, 1}, {2});
  select(softmax(z, 0), 0, 0).backward();
  const double p0 = 1 / (1 + std::exp(1.0));
  expect_values(z.grad(), {2}, {p0 * (1 - p0), -p0 * (1 - p0)});
}

TEST(Softmax, Errors) {
  Tensor i = tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_KILN_ERROR(softmax(i, 1), "softmax: expected a floating point tensor", "int64", "[2, 3]");
  EXPECT_KILN_ERROR(log_softmax(i, 1), "log_softmax", "floating point", "[2, 3]");
  EXPECT_KILN_ERROR(softmax(x23(), 2), "softmax", "out of range", "[2, 3]");
  EXPECT_KILN_ERROR(log_softmax(x23(), -3), "log_softmax", "out of range", "[2, 3]");
}
