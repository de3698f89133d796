// Joining and splitting: cat (dtype promotion, skipped empty tensors), stack, split, chunk.
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

std::vector<Shape> shapes_of(const std::vector<Tensor>& ts) {
  std::vector<Shape> s;
  for (const Tensor& t : ts) s.push_back(t.shape());
  return s;
}

TEST(Cat, AlongEachDim) {
  Tensor a = f32({1, 2, 3, 4}, {2, 2});
  Tensor b = f32({5, 6}, {1, 2});
  expect_exact_values(cat({a, b}, 0), {3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor c = f32({7, 8, 9, 10, 11, 12}, {2, 3});
  expect_exact_values(cat({a, c}, 1), {2, 5}, {1, 2, 7, 8, 9, 3, 4, 10, 11, 12});
  expect_exact_values(cat({a, c}, -1), {2, 5}, {1, 2, 7, 8, 9, 3, 4, 10, 11, 12});
  // Non-contiguous inputs.
  expect_exact_values(cat({a.t(), a}, 0), {4, 2}, {1, 3, 2, 4, 1, 2, 3, 4});
}

TEST(Cat, PromotesDtypes) {
  Tensor i = tensor(std::vector<int64_t>{1, 2}, {2});
  Tensor f = f32({0.5, 1.5}, {2});
  Tensor r = cat({i, f});
  EXPECT_EQ(r.dtype(), DType::Float32);
  expect_exact_values(r, {4}, {1, 2, 0.5, 1.5});
  Tensor d = tensor(std::vector<double>{0.25}, {1}, TensorOptions(DType::Float64));
  Tensor r2 = cat({f, d});
  EXPECT_EQ(r2.dtype(), DType::Float64);
  expect_exact_values(r2, {3}, {0.5, 1.5, 0.25});
  Tensor h = f.to(DType::BFloat16);
  EXPECT_EQ(cat({h, i}).dtype(), DType::BFloat16);
}

TEST(Cat, SkipsOneDimEmptyTensors) {
  Tensor a = f32({1, 2, 3, 4}, {2, 2});
  Tensor e = zeros({0});
  expect_exact_values(cat({e, a, e}, 1), {2, 2}, {1, 2, 3, 4});
  // An empty tensor of the right rank takes part normally.
  expect_exact_values(cat({a, zeros({2, 0})}, 1), {2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(cat({zeros({0}), zeros({0})}).shape(), (Shape{0}));
}

TEST(Cat, BackwardNarrowsTheGradient) {
  Tensor a = f32({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor b = f32({5, 6}, {2, 1}).requires_grad_();
  Tensor w = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = cat({a, b}, 1);
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_EQ(y.grad_fn()->name(), "CatBackward0");
  (y * w).sum().backward();
  expect_exact_values(a.grad(), {2, 2}, {1, 2, 4, 5});
  expect_exact_values(b.grad(), {2, 1}, {3, 6});
}

TEST(Stack, NewDimAnywhere) {
  Tensor a = f32({1, 2, 3, 4}, {2, 2});
  Tensor b = f32({5, 6, 7, 8}, {2, 2});
  expect_exact_values(stack({a, b}), {2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  expect_exact_values(stack({a, b}, 1), {2, 2, 2}, {1, 2, 5, 6, 3, 4, 7, 8});
  expect_exact_values(stack({a, b}, -1), {2, 2, 2}, {1, 5, 2, 6, 3, 7, 4, 8});
  expect_exact_values(stack({scalar_tensor(1.0), scalar_tensor(2.0)}), {2}, {1, 2});
}

TEST(Split, BySize) {
  Tensor x = arange(10, TensorOptions(DType::Float32)).reshape({5, 2});
  std::vector<Tensor> parts = split(x, 2);
  EXPECT_EQ(shapes_of(parts), (std::vector<Shape>{{2, 2}, {2, 2}, {1, 2}}));
  expect_exact_values(parts[2], {1, 2}, {8, 9});
  EXPECT_TRUE(parts[1].shares_storage(x));  // views, not copies
  std::vector<Tensor> cols = split(x, 1, -1);
  EXPECT_EQ(shapes_of(cols), (std::vector<Shape>{{5, 1}, {5, 1}}));
  expect_exact_values(cols[1], {5, 1}, {1, 3, 5, 7, 9});
  EXPECT_EQ(split(x, 7).size(), 1u);
  EXPECT_EQ(shapes_of(split(zeros({0, 3}), 2)), (std::vector<Shape>{{0, 3}}));
}

TEST(Split, BySizes) {
  Tensor x = arange(6, TensorOptions(DType::Float32));
  std::vector<Tensor> parts = split(x, std::vector<int64_t>{1, 0, 5});
  EXPECT_EQ(shapes_of(parts), (std::vector<Shape>{{1}, {0}, {5}}));
  expect_exact_values(parts[2], {5}, {1, 2, 3, 4, 5});
}

TEST(Chunk, CeilDivision) {
  Tensor x = arange(5, TensorOptions(DType::Float32));
  EXPECT_EQ(shapes_of(chunk(x, 3)), (std::vector<Shape>{{2}, {2}, {1}}));
  // 6 / 4 rounds up to 2 per chunk: only 3 chunks come back, as in torch.chunk.
  EXPECT_EQ(shapes_of(chunk(arange(6, TensorOptions(DType::Float32)), 4)),
            (std::vector<Shape>{{2}, {2}, {2}}));
  EXPECT_EQ(shapes_of(chunk(x, 5)).size(), 5u);
  EXPECT_EQ(shapes_of(chunk(x, 9)).size(), 5u);
  EXPECT_EQ(shapes_of(chunk(zeros({2, 0}), 3, 1)), (std::vector<Shape>{{2, 0}, {2, 0}, {2, 0}}));
  std::vector<Tensor> rows = chunk(arange(6, TensorOptions(DType::Float32)).reshape({2, 3}), 2);
  expect_exact_values(rows[1], {1, 3}, {3, 4, 5});
}

TEST(SplitBackward, FlowsThroughViews) {
  Tensor x = f32({1, 2, 3, 4, 5}, {5}).requires_grad_();
  std::vector<Tensor> parts = split(x, 2);
  (parts[0].sum() + parts[2].sum() * 3).backward();
  expect_exact_values(x.grad(), {5}, {1, 1, 0, 0, 3});
}

TEST(JoinErrors, Cat) {
  EXPECT_THROW(cat({zeros({2, 3}), zeros({3, 4})}, 0), ValueError);
  expect_contains(error_message([] {
                    cat({zeros({2, 3}), zeros({3, 4})}, 0);
                  }),
                  {"cat", "[2, 3]", "[3, 4]", "dimension 1"});
  expect_contains(error_message([] {
                    cat({zeros({2, 3}), zeros({2, 3, 1})});
                  }),
                  {"cat", "[2, 3]", "[2, 3, 1]"});
  expect_contains(error_message([] {
                    cat({zeros({2, 3}), zeros({})});
                  }),
                  {"cat", "zero-dimensional"});
  expect_contains(error_message([] { cat({}); }), {"cat", "non-empty"});
  expect_contains(error_message([] { cat({zeros({2, 3})}, 2); }), {"cat", "dimension 2"});
}

TEST(JoinErrors, Stack) {
  EXPECT_THROW(stack({zeros({2, 3}), zeros({2, 4})}), ValueError);
  expect_contains(error_message([] {
                    stack({zeros({2, 3}), zeros({2, 4})});
                  }),
                  {"stack", "[2, 3]", "[2, 4]"});
}

TEST(JoinErrors, SplitAndChunk) {
  expect_contains(error_message([] {
                    split(zeros({4, 2}), std::vector<int64_t>{1, 2});
                  }),
                  {"split", "[1, 2]", "4", "[4, 2]"});
  expect_contains(error_message([] { split(zeros({4}), 0); }), {"split", "split_size"});
  expect_contains(error_message([] { chunk(zeros({4}), 0); }), {"chunk", "0"});
  expect_contains(error_message([] { split(zeros({}), 1); }), {"split", "0-d"});
}

}  // namespace
}  // namespace kiln
