// Matrix products: bmm, mm, matmul (every rank combination, broadcast batches, strided
// operands), linear, dot, outer, against hand-computed values; error messages.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/ops.h"
#include "test_util.h"

namespace kiln {
namespace {

using namespace kiln::testing;

Tensor f32(const std::vector<double>& v, const Shape& shape) { return tensor(v, shape); }
Tensor f64(const std::vector<double>& v, const Shape& shape) {
  return tensor(v, shape, TensorOptions(DType::Float64));
}

// a [2, 3] = [[1, 2, 3], [4, 5, 6]], b [3, 2] = [[7, 8], [9, 10], [11, 12]]
// a @ b = [[58, 64], [139, 154]]
const std::vector<double> kA = {1, 2, 3, 4, 5, 6};
const std::vector<double> kB = {7, 8, 9, 10, 11, 12};
const std::vector<double> kAB = {58, 64, 139, 154};

TEST(Linalg, Mm) {
  expect_values(mm(f32(kA, {2, 3}), f32(kB, {3, 2})), {2, 2}, kAB);
  expect_values(mm(f64(kA, {2, 3}), f64(kB, {3, 2})), {2, 2}, kAB, 1e-12);
}

TEST(Linalg, MatmulOneDimDot) {
  Tensor r = matmul(f32({1, 2, 3}, {3}), f32({4, 5, 6}, {3}));
  expect_values(r, {}, {32});
  expect_values(dot(f64({1, 2, 3}, {3}), f64({4, 5, 6}, {3})), {}, {32});
}

TEST(Linalg, MatmulMatrixVector) {
  Tensor m = f32({1, 2, 3, 4}, {2, 2});
  expect_values(matmul(m, f32({5, 6}, {2})), {2}, {17, 39});
  expect_values(matmul(f32({5, 6}, {2}), m), {2}, {23, 34});
}

TEST(Linalg, MatmulTwoDim) {
  expect_values(matmul(f32(kA, {2, 3}), f32(kB, {3, 2})), {2, 2}, kAB);
  expect_values(f32(kA, {2, 3}).matmul(f32(kB, {3, 2})), {2, 2}, kAB);
}

TEST(Linalg, MatmulBatchedTimesMatrix) {
  // [2, 2, 3] @ [3, 2]: batch 0 is a, batch 1 is 2a.
  std::vector<double> a2 = kA;
  for (double v : kA) a2.push_back(2 * v);
  Tensor r = matmul(f32(a2, {2, 2, 3}), f32(kB, {3, 2}));
  expect_values(r, {2, 2, 2}, {58, 64, 139, 154, 116, 128, 278, 308});
}

TEST(Linalg, MatmulBatchedTimesVectorAndBack) {
  // [2, 2, 2] @ [2] and [2] @ [2, 2, 2]
  Tensor b = f32({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  expect_values(matmul(b, f32({1, 1}, {2})), {2, 2}, {3, 7, 11, 15});
  expect_values(matmul(f32({1, 1}, {2}), b), {2, 2}, {4, 6, 12, 14});
}

TEST(Linalg, MatmulBatched) {
  Tensor a = f32({1, 2, 3, 4, 1, 0, 0, 1}, {2, 2, 2});
  Tensor b = f32({5, 6, 7, 8, 2, 3, 4, 5}, {2, 2, 2});
  expect_values(matmul(a, b), {2, 2, 2}, {19, 22, 43, 50, 2, 3, 4, 5});
  expect_values(bmm(a, b), {2, 2, 2}, {19, 22, 43, 50, 2, 3, 4, 5});
}

TEST(Linalg, MatmulBroadcastBatchDims) {
  // a [2, 1, 1, 2] (two row vectors), b [3, 2, 1] (three column vectors): out [2, 3, 1, 1]
  // with out[i, j] = a_i . b_j.
  Tensor a = f32({1, 2, 3, 4}, {2, 1, 1, 2});
  Tensor b = f32({1, 0, 0, 1, 1, 1}, {3, 2, 1});
  expect_values(matmul(a, b), {2, 3, 1, 1}, {1, 2, 3, 3, 4, 7});
  // A batch of one against a batch of two: [1, 2, 2] @ [2, 2, 2].
  Tensor c = f32({1, 2, 3, 4}, {1, 2, 2});
  Tensor d = f32({1, 0, 0, 1, 2, 0, 0, 2}, {2, 2, 2});
  expect_values(matmul(c, d), {2, 2, 2}, {1, 2, 3, 4, 2, 4, 6, 8});
}

TEST(Linalg, MatmulTransposedOperands) {
  // a^T stored as [3, 2] and viewed transposed: a non-contiguous [2, 3] operand.
  Tensor at = f32({1, 4, 2, 5, 3, 6}, {3, 2}).t();
  ASSERT_FALSE(at.is_contiguous());
  expect_values(matmul(at, f32(kB, {3, 2})), {2, 2}, kAB);
  Tensor bt = f32({7, 9, 11, 8, 10, 12}, {2, 3}).t();
  expect_values(matmul(f32(kA, {2, 3}), bt), {2, 2}, kAB);
  expect_values(matmul(at, bt), {2, 2}, kAB);
  // Batched transpose (bmm sees column-major matrices).
  Tensor a3 = f32({1, 4, 2, 5, 3, 6}, {1, 3, 2}).transpose(1, 2);
  expect_values(bmm(a3, f32(kB, {1, 3, 2})), {1, 2, 2}, kAB);
}

TEST(Linalg, MatmulStridesThatNeedACopy) {
  // Every other column of a [2, 6] tensor: neither row- nor column-major.
  Tensor wide = f32({1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0}, {2, 6});
  Tensor a = wide.slice(1, 0, 6, 2);
  expect_values(matmul(a, f32(kB, {3, 2})), {2, 2}, kAB);
  // An expanded operand (stride 0 rows).
  Tensor row = f32({1, 2, 3}, {1, 3}).expand({2, 3});
  expect_values(matmul(row, f32(kB, {3, 2})), {2, 2}, {58, 64, 58, 64});
}

TEST(Linalg, Float64AndHalfTypes) {
  Tensor a = f64({0.1, 0.2, 0.3, 0.4}, {2, 2});
  Tensor b = f64({1.5, -2.0, 0.25, 3.0}, {2, 2});
  // [[0.1*1.5 + 0.2*0.25, 0.1*-2 + 0.2*3], [0.3*1.5 + 0.4*0.25, 0.3*-2 + 0.4*3]]
  std::vector<double> want = {0.2, 0.4, 0.55, 0.6};
  expect_values(matmul(a, b), {2, 2}, want, 1e-12);
  Tensor rb = matmul(a.to(DType::BFloat16), b.to(DType::BFloat16));
  EXPECT_EQ(rb.dtype(), DType::BFloat16);
  expect_values(rb, {2, 2}, want, 1e-2);
  Tensor rh = matmul(a.to(DType::Float16), b.to(DType::Float16));
  EXPECT_EQ(rh.dtype(), DType::Float16);
  expect_values(rh, {2, 2}, want, 2e-3);
  // A transposed bf16 operand goes through the same widening path.
  expect_values(
      matmul(a.to(DType::BFloat16).t(), b.to(DType::BFloat16)), {2, 2},
      {0.1 * 1.5 + 0.3 * 0.25, 0.1 * -2 + 0.3 * 3, 0.2 * 1.5 + 0.4 * 0.25, 0.2 * -2 + 0.4 * 3},
      1e-2);
}

TEST(Linalg, Int64IsExact) {
  // Products beyond float precision: 1000000007 * 1000000009 + 3 * 2.
  Tensor a = tensor(std::vector<int64_t>{1000000007, 3, 1, 1}, {2, 2});
  Tensor b = tensor(std::vector<int64_t>{1000000009, 0, 2, 5}, {2, 2});
  Tensor r = matmul(a, b);
  ASSERT_EQ(r.dtype(), DType::Int64);
  const int64_t* p = r.contiguous().data<int64_t>();
  EXPECT_EQ(p[0], int64_t(1000000016000000069LL));
  EXPECT_EQ(p[1], 15);
  EXPECT_EQ(p[2], 1000000011);
  EXPECT_EQ(p[3], 5);
  // A transposed int32 operand.
  Tensor c = tensor(std::vector<int64_t>{1, 2, 3, 4}, {2, 2}).to(DType::Int32);
  Tensor rc = matmul(c.t(), c);  // [[1, 3], [2, 4]] @ [[1, 2], [3, 4]]
  EXPECT_EQ(rc.dtype(), DType::Int32);
  expect_values(rc, {2, 2}, {10, 14, 14, 20}, 0);
}

TEST(Linalg, ZeroSizes) {
  Tensor r = matmul(zeros({2, 0}), zeros({0, 3}));
  expect_values(r, {2, 3}, {0, 0, 0, 0, 0, 0});
  EXPECT_EQ(matmul(zeros({0, 4}), ones({4, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(bmm(zeros({0, 2, 4}), zeros({0, 4, 3})).shape(), (Shape{0, 2, 3}));
  expect_values(dot(zeros({0}), zeros({0})), {}, {0});
  expect_values(bmm(ones({2, 1, 0}, TensorOptions(DType::Int64)),
                    ones({2, 0, 2}, TensorOptions(DType::Int64))),
                {2, 1, 2}, {0, 0, 0, 0}, 0);
}

TEST(Linalg, Linear) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = f32({1, 0, 0, 1, 1, 1}, {2, 3});  // out 0 = x0, out 1 = x0 + x1 + x2
  Tensor b = f32({10, 20}, {2});
  expect_values(linear(x, w, b), {2, 2}, {11, 26, 14, 35});
  expect_values(linear(x, w), {2, 2}, {1, 6, 4, 15});
  // Extra leading dims and a 1-D input.
  expect_values(linear(x.reshape({2, 1, 3}), w, b), {2, 1, 2}, {11, 26, 14, 35});
  expect_values(linear(f32({1, 2, 3}, {3}), w, b), {2}, {11, 26});
}

TEST(Linalg, Outer) {
  expect_values(outer(f32({1, 2}, {2}), f32({3, 4, 5}, {3})), {2, 3}, {3, 4, 5, 6, 8, 10});
}

TEST(Linalg, BmmBackwardValues) {
  // y = sum(a @ b): da = 1 @ b^T (row sums of b), db = a^T @ 1 (column sums of a).
  Tensor a = f64(kA, {1, 2, 3}).requires_grad_();
  Tensor b = f64(kB, {1, 3, 2}).requires_grad_();
  bmm(a, b).sum().backward();
  expect_values(a.grad(), {1, 2, 3}, {15, 19, 23, 15, 19, 23});
  expect_values(b.grad(), {1, 3, 2}, {5, 5, 7, 7, 9, 9});
}

TEST(Linalg, BroadcastBatchBackwardSumsBatch) {
  // b is shared by both batches of a, so its gradient sums over them.
  Tensor a = f64({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2}).requires_grad_();
  Tensor b = f64({1, 0, 0, 1}, {1, 2, 2}).requires_grad_();
  matmul(a, b).sum().backward();
  ASSERT_EQ(b.grad().shape(), (Shape{1, 2, 2}));
  // db = sum_batches a^T @ ones: column sums of a per batch, summed: [1+3+5+7, 2+4+6+8].
  expect_values(b.grad(), {1, 2, 2}, {16, 16, 20, 20});
  expect_values(a.grad(), {2, 2, 2}, {1, 1, 1, 1, 1, 1, 1, 1});
}

TEST(LinalgErrors, BmmInnerMismatch) {
  std::string msg = error_message([] { bmm(zeros({2, 3, 4}), zeros({2, 5, 6})); });
  EXPECT_EQ(msg,
            "bmm: batch1 [2, 3, 4] and batch2 [2, 5, 6] have mismatched inner dimensions "
            "(4 vs 5)");
  EXPECT_THROW(bmm(zeros({2, 3, 4}), zeros({3, 4, 6})), ValueError);
  expect_contains(error_message([] {
                    bmm(zeros({2, 3, 4}), zeros({3, 4, 6}));
                  }),
                  {"bmm", "[2, 3, 4]", "[3, 4, 6]", "batch"});
  expect_contains(error_message([] {
                    bmm(zeros({3, 4}), zeros({4, 6}));
                  }),
                  {"bmm", "3-D", "[3, 4]", "[4, 6]"});
}

TEST(LinalgErrors, MmAndMatmulShapes) {
  EXPECT_THROW(mm(zeros({2, 3}), zeros({4, 5})), ValueError);
  expect_contains(error_message([] {
                    mm(zeros({2, 3}), zeros({4, 5}));
                  }),
                  {"mm", "[2, 3]", "[4, 5]"});
  expect_contains(error_message([] {
                    matmul(zeros({2, 3}), zeros({4, 5}));
                  }),
                  {"matmul", "[2, 3]", "[4, 5]"});
  expect_contains(error_message([] { matmul(zeros({3}), zeros({4})); }), {"matmul", "[3]", "[4]"});
  expect_contains(error_message([] {
                    matmul(zeros({2, 2, 3}), zeros({3, 3, 2}));
                  }),
                  {"matmul", "[2, 2, 3]", "[3, 3, 2]", "batch"});
  expect_contains(error_message([] { matmul(zeros({}), zeros({3})); }),
                  {"matmul", "1-D", "[]", "[3]"});
  expect_contains(error_message([] { dot(zeros({2}), zeros({3})); }), {"dot", "[2]", "[3]"});
}

TEST(LinalgErrors, MatmulDtypes) {
  EXPECT_THROW(matmul(zeros({2, 2}), zeros({2, 2}, TensorOptions(DType::Float64))), TypeError);
  EXPECT_EQ(error_message([] {
              matmul(zeros({2, 2}), zeros({2, 2}, TensorOptions(DType::Float64)));
            }),
            "matmul: expected both operands to have the same dtype, got float32 and float64");
  EXPECT_THROW(
      matmul(zeros({2, 2}, TensorOptions(DType::Bool)), zeros({2, 2}, TensorOptions(DType::Bool))),
      TypeError);
}

TEST(LinalgErrors, Linear) {
  expect_contains(error_message([] {
                    linear(zeros({2, 3}), zeros({4, 5}));
                  }),
                  {"linear", "[2, 3]", "[4, 5]", "3 vs 5"});
  expect_contains(error_message([] {
                    linear(zeros({2, 3}), zeros({4, 3}), zeros({5}));
                  }),
                  {"linear", "bias", "[5]", "[2, 4]"});
  EXPECT_THROW(linear(zeros({2, 3}), zeros({4, 3}, TensorOptions(DType::Float64))), TypeError);
}

}  // namespace
}  // namespace kiln
