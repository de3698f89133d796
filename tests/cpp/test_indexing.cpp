// Indexing: index_select, index_add, gather, scatter, scatter_add (repeated indices, strided
// operands), masked_fill, one_hot, embedding; range and shape errors.
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
Tensor i64(const std::vector<int64_t>& v, const Shape& shape) { return tensor(v, shape); }

// x [3, 2] = [[1, 2], [3, 4], [5, 6]]
Tensor x32() { return f32({1, 2, 3, 4, 5, 6}, {3, 2}); }

TEST(IndexSelect, RowsColumnsAndRepeats) {
  expect_exact_values(index_select(x32(), 0, i64({2, 0, 2}, {3})), {3, 2}, {5, 6, 1, 2, 5, 6});
  expect_exact_values(index_select(x32(), 1, i64({1, 1}, {2})), {3, 2}, {2, 2, 4, 4, 6, 6});
  expect_exact_values(index_select(x32(), -1, i64({0}, {1})), {3, 1}, {1, 3, 5});
  // int32 index, 0-d index, empty index.
  expect_exact_values(index_select(x32(), 0, i64({1}, {1}).to(DType::Int32)), {1, 2}, {3, 4});
  expect_exact_values(index_select(x32(), 0, scalar_tensor(2, DType::Int64)), {1, 2}, {5, 6});
  EXPECT_EQ(index_select(x32(), 0, i64({}, {0})).shape(), (Shape{0, 2}));
}

TEST(IndexSelect, StridedInputAndTypes) {
  Tensor xt = x32().t();  // [[1, 3, 5], [2, 4, 6]]
  expect_exact_values(index_select(xt, 1, i64({2, 0}, {2})), {2, 2}, {5, 1, 6, 2});
  Tensor xi = i64({10, 20, 30}, {3});
  Tensor r = index_select(xi, 0, i64({2, 2, 1}, {3}));
  EXPECT_EQ(r.dtype(), DType::Int64);
  expect_exact_values(r, {3}, {30, 30, 20});
  expect_exact_values(index_select(x32().to(DType::BFloat16), 0, i64({1}, {1})), {1, 2}, {3, 4});
}

TEST(IndexSelect, BackwardAccumulatesRepeats) {
  Tensor x = x32().requires_grad_();
  index_select(x, 0, i64({0, 0, 2}, {3})).sum().backward();
  expect_exact_values(x.grad(), {3, 2}, {2, 2, 0, 0, 1, 1});
}

TEST(IndexAdd, RepeatedIndicesAndAlpha) {
  Tensor src = f32({1, 1, 2, 2, 3, 3}, {3, 2});
  expect_exact_values(index_add(x32(), 0, i64({0, 2, 0}, {3}), src), {3, 2}, {5, 6, 3, 4, 7, 8});
  expect_exact_values(index_add(x32(), 0, i64({0, 2, 0}, {3}), src, 2), {3, 2},
                      {9, 10, 3, 4, 9, 10});
  Tensor col = f32({10, 20, 30}, {3, 1});
  expect_exact_values(index_add(x32(), 1, i64({1}, {1}), col), {3, 2}, {1, 12, 3, 24, 5, 36});
  // The input is not modified.
  Tensor x = x32();
  index_add(x, 0, i64({1}, {1}), f32({7, 7}, {1, 2}));
  expect_exact_values(x, {3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor xi = i64({1, 2, 3}, {3});
  expect_exact_values(index_add(xi, 0, i64({2, 2}, {2}), i64({5, 6}, {2})), {3}, {1, 2, 14});
}

TEST(IndexAdd, BackwardForSource) {
  Tensor x = x32().requires_grad_();
  Tensor src = f32({1, 1, 2, 2}, {2, 2}).requires_grad_();
  Tensor w = f32({1, 2, 3, 4, 5, 6}, {3, 2});
  (index_add(x, 0, i64({2, 0}, {2}), src, 3) * w).sum().backward();
  expect_exact_values(x.grad(), {3, 2}, {1, 2, 3, 4, 5, 6});
  // d/dsrc = alpha * w[index]
  expect_exact_values(src.grad(), {2, 2}, {15, 18, 3, 6});
}

TEST(Gather, AlongEachDim) {
  Tensor x = f32({1, 2, 3, 4}, {2, 2});
  expect_exact_values(gather(x, 1, i64({0, 0, 1, 0}, {2, 2})), {2, 2}, {1, 1, 4, 3});
  expect_exact_values(gather(x, 0, i64({1, 0, 1, 1}, {2, 2})), {2, 2}, {3, 2, 3, 4});
  // Index smaller than the input in the other dim, and longer along dim.
  Tensor y = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_exact_values(gather(y, 1, i64({2, 2, 0, 1}, {1, 4})), {1, 4}, {3, 3, 1, 2});
  // A transposed input.
  expect_exact_values(gather(y.t(), 0, i64({1, 0}, {1, 2})), {1, 2}, {2, 4});
}

TEST(Gather, BackwardScatterAdds) {
  Tensor x = f32({1, 2, 3, 4}, {2, 2}).requires_grad_();
  gather(x, 1, i64({0, 0, 1, 1}, {2, 2})).sum().backward();
  expect_exact_values(x.grad(), {2, 2}, {2, 0, 0, 2});
}

TEST(Scatter, TensorSource) {
  Tensor x = zeros({2, 3});
  Tensor src = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_exact_values(scatter(x, 1, i64({2, 0, 1, 1, 2, 0}, {2, 3}), src), {2, 3},
                      {2, 3, 1, 6, 4, 5});
  expect_exact_values(scatter(x, 0, i64({1, 0, 1}, {1, 3}), src), {2, 3}, {0, 2, 0, 1, 0, 3});
  // A source larger than the index: only its first index.shape() elements are read.
  Tensor big = f32({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
  expect_exact_values(scatter(x, 1, i64({1, 0}, {1, 2}), big), {2, 3}, {2, 1, 0, 0, 0, 0});
  expect_exact_values(x, {2, 3}, {0, 0, 0, 0, 0, 0});  // out of place
}

TEST(Scatter, ScalarValue) {
  Tensor x = f32({1, 2, 3, 4}, {2, 2});
  expect_exact_values(scatter(x, 1, i64({1, 0}, {2, 1}), -1.5), {2, 2}, {1, -1.5, -1.5, 4});
  Tensor xi = i64({1, 2, 3}, {3});
  expect_exact_values(scatter(xi, 0, i64({0, 0}, {2}), 9), {3}, {9, 2, 3});
}

TEST(ScatterAdd, RepeatedIndices) {
  Tensor x = zeros({3});
  expect_exact_values(scatter_add(x, 0, i64({0, 0, 2}, {3}), f32({1, 2, 3}, {3})), {3}, {3, 0, 3});
  Tensor y = ones({2, 2});
  expect_exact_values(scatter_add(y, 1, i64({1, 1, 0, 0}, {2, 2}), f32({1, 2, 3, 4}, {2, 2})),
                      {2, 2}, {1, 4, 8, 1});
  Tensor h = zeros({2}, TensorOptions(DType::Float16));
  expect_exact_values(
      scatter_add(h, 0, i64({1, 1, 1}, {3}), f32({0.5, 0.25, 1}, {3}).to(DType::Float16)), {2},
      {0, 1.75});
  // A large scatter_add runs in parallel over the non-indexed dim; totals must be exact.
  Tensor big = zeros({4, 50000});
  Tensor idx = zeros({8, 50000}, TensorOptions(DType::Int64));
  Tensor r = scatter_add(big, 0, idx, ones({8, 50000}));
  expect_exact_values(r.sum(), {}, {8.0 * 50000});
  expect_exact_values(amin(r.select(0, 0)), {}, {8});
}

TEST(Scatter, Backward) {
  Tensor x = f32({1, 2, 3}, {3}).requires_grad_();
  Tensor src = f32({7, 8}, {2}).requires_grad_();
  Tensor w = f32({1, 10, 100}, {3});
  (scatter(x, 0, i64({2, 0}, {2}), src) * w).sum().backward();
  expect_exact_values(x.grad(), {3}, {0, 10, 0});
  expect_exact_values(src.grad(), {2}, {100, 1});

  Tensor x2 = f32({1, 2, 3}, {3}).requires_grad_();
  Tensor src2 = f32({7, 8, 9}, {3}).requires_grad_();
  (scatter_add(x2, 0, i64({2, 2}, {2}), src2) * w).sum().backward();
  expect_exact_values(x2.grad(), {3}, {1, 10, 100});
  expect_exact_values(src2.grad(), {3}, {100, 100, 0});  // src[2] is not read
}

TEST(MaskedFill, BroadcastMask) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor mask = tensor(std::vector<double>{1, 0, 1}, {3}, TensorOptions(DType::Bool));
  expect_exact_values(masked_fill(x, mask, 0.5), {2, 3}, {0.5, 2, 0.5, 0.5, 5, 0.5});
  Tensor colmask = tensor(std::vector<double>{0, 1}, {2, 1}, TensorOptions(DType::Bool));
  expect_exact_values(masked_fill(x, colmask, -1), {2, 3}, {1, 2, 3, -1, -1, -1});
  // The result keeps x's dtype.
  Tensor xi = i64({1, 2, 3}, {3});
  Tensor ri = masked_fill(xi, mask, 7);
  EXPECT_EQ(ri.dtype(), DType::Int64);
  expect_exact_values(ri, {3}, {7, 2, 7});
}

TEST(MaskedFill, TensorValueAndGradient) {
  Tensor x = f32({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor v = scalar_tensor(9.0).requires_grad_();
  Tensor mask = tensor(std::vector<double>{1, 0, 0, 1}, {2, 2}, TensorOptions(DType::Bool));
  Tensor y = masked_fill(x, mask, v);
  expect_exact_values(y, {2, 2}, {9, 2, 3, 9});
  (y * f32({1, 2, 3, 4}, {2, 2})).sum().backward();
  expect_exact_values(x.grad(), {2, 2}, {0, 2, 3, 0});
  expect_exact_values(v.grad(), {}, {5});
}

TEST(OneHot, InferredAndGivenClasses) {
  Tensor r = one_hot(i64({0, 2, 1}, {3}));
  EXPECT_EQ(r.dtype(), DType::Int64);
  expect_exact_values(r, {3, 3}, {1, 0, 0, 0, 0, 1, 0, 1, 0});
  expect_exact_values(one_hot(i64({1, 0}, {2, 1}), 4), {2, 1, 4}, {0, 1, 0, 0, 1, 0, 0, 0});
}

TEST(Embedding, LooksUpRows) {
  Tensor w = f32({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  expect_exact_values(embedding(w, i64({0, 3, 3, 1}, {2, 2})), {2, 2, 2},
                      {0, 1, 30, 31, 30, 31, 10, 11});
  expect_exact_values(embedding(w, scalar_tensor(2, DType::Int64)), {2}, {20, 21});
  Tensor wg = w.clone().requires_grad_();
  embedding(wg, i64({0, 3, 3}, {3})).sum().backward();
  expect_exact_values(wg.grad(), {4, 2}, {1, 1, 0, 0, 0, 0, 2, 2});
}

TEST(IndexingErrors, OutOfRange) {
  EXPECT_THROW(index_select(x32(), 0, i64({0, 5}, {2})), Error);
  expect_contains(error_message([] {
                    index_select(x32(), 0, i64({0, 5}, {2}));
                  }),
                  {"index_select", "5", "size 3", "[3, 2]"});
  expect_contains(error_message([] { index_select(x32(), 0, i64({-1}, {1})); }),
                  {"index_select", "-1"});
  expect_contains(error_message([] {
                    gather(x32(), 1, i64({2}, {1, 1}));
                  }),
                  {"gather", "2", "size 2"});
  expect_contains(error_message([] {
                    scatter_add(x32(), 0, i64({3}, {1, 1}), x32());
                  }),
                  {"scatter_add", "3", "size 3"});
  expect_contains(error_message([] {
                    index_add(x32(), 0, i64({4}, {1}), f32({1, 1}, {1, 2}));
                  }),
                  {"index_add", "4", "size 3"});
  expect_contains(error_message([] {
                    embedding(zeros({4, 2}), i64({1, 7}, {2}));
                  }),
                  {"embedding", "7", "4 rows", "[4, 2]"});
}

TEST(IndexingErrors, ShapesAndTypes) {
  expect_contains(error_message([] {
                    gather(zeros({2, 3}), 1, i64({0, 0, 0}, {3, 1}));
                  }),
                  {"gather", "[3, 1]", "[2, 3]"});
  expect_contains(error_message([] {
                    gather(zeros({2, 3}), 1, i64({0, 0}, {2}));
                  }),
                  {"gather", "[2]", "[2, 3]"});
  expect_contains(error_message([] {
                    scatter(zeros({2, 3}), 1, i64({0, 0}, {1, 2}), zeros({1, 1}));
                  }),
                  {"scatter", "[1, 2]", "[1, 1]"});
  EXPECT_THROW(scatter(zeros({2}), 0, i64({0}, {1}), zeros({1}, TensorOptions(DType::Float64))),
               TypeError);
  EXPECT_THROW(index_select(x32(), 0, f32({0}, {1})), TypeError);
  expect_contains(error_message([] {
                    index_select(x32(), 0, i64({0, 0}, {1, 2}));
                  }),
                  {"index_select", "[1, 2]"});
  expect_contains(error_message([] {
                    index_add(x32(), 0, i64({0}, {1}), zeros({1, 3}));
                  }),
                  {"index_add", "[1, 3]", "[3, 2]"});
  expect_contains(error_message([] {
                    index_add(x32(), 0, i64({0, 1}, {2}), zeros({1, 2}));
                  }),
                  {"index_add", "[1, 2]", "[2]"});
}

TEST(IndexingErrors, MaskedFillOneHotEmbedding) {
  Tensor mask = zeros({4}, TensorOptions(DType::Bool));
  expect_contains(error_message([&] {
                    masked_fill(zeros({2, 3}), mask, 1);
                  }),
                  {"masked_fill", "[4]", "[2, 3]"});
  EXPECT_THROW(masked_fill(zeros({2, 3}), zeros({3}), 1), TypeError);
  expect_contains(error_message([] {
                    masked_fill(zeros({3}), zeros({3}, TensorOptions(DType::Bool)), zeros({1}));
                  }),
                  {"masked_fill", "0-dimensional", "[1]"});
  expect_contains(error_message([] { one_hot(i64({0, -1}, {2})); }), {"one_hot", "-1"});
  expect_contains(error_message([] { one_hot(i64({0, 5}, {2}), 3); }), {"one_hot", "5", "3"});
  EXPECT_THROW(one_hot(f32({0}, {1})), TypeError);
  expect_contains(error_message([] { embedding(zeros({4}), i64({0}, {1})); }),
                  {"embedding", "[4]"});
}

}  // namespace
}  // namespace kiln
