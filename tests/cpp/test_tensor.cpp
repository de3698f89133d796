// Tensors: factories, dtypes and conversion, views sharing storage, broadcasting, type
// promotion, in-place ops and printing.
#include <cmath>

#include "test_util.h"

namespace kiln::testing {
namespace {

TEST(Factories, ShapesDtypesAndValues) {
  expect_values(zeros({2, 3}), {2, 3}, {0, 0, 0, 0, 0, 0});
  expect_values(ones({2}), {2}, {1, 1});
  expect_values(full({2}, 2.5), {2}, {2.5, 2.5});
  EXPECT_EQ(full({1}, 3).dtype(), DType::Int64);
  EXPECT_EQ(full({1}, true).dtype(), DType::Bool);
  EXPECT_EQ(zeros({1}).dtype(), DType::Float32);
  expect_values(arange(5), {5}, {0, 1, 2, 3, 4});
  EXPECT_EQ(arange(5).dtype(), DType::Int64);
  expect_values(arange(1, 2, 0.25, DType::Float32), {4}, {1, 1.25, 1.5, 1.75});
  expect_values(arange(5, 0, -2), {3}, {5, 3, 1});
  expect_values(linspace(0, 1, 5), {5}, {0, 0.25, 0.5, 0.75, 1});
  expect_values(linspace(-1, 1, 1), {1}, {-1});
  expect_values(eye(2, 3), {2, 3}, {1, 0, 0, 0, 1, 0});
  expect_values(tensor({1.5, 2.5, 3.5, 4.5}, {2, 2}), {2, 2}, {1.5, 2.5, 3.5, 4.5});
  EXPECT_EQ(tensor(std::vector<int64_t>{1, 2}).dtype(), DType::Int64);
  EXPECT_EQ(empty({0, 3}).numel(), 0);
  EXPECT_TRUE(zeros({2}, TensorOptions(DType::Float32, Device::cpu(), true)).requires_grad());
}

TEST(Factories, RandomRangesAndSeeds) {
  manual_seed(42);
  Tensor u = rand({1000});
  manual_seed(42);
  Tensor u2 = rand({1000});
  EXPECT_TRUE(equal(u, u2));
  Tensor u3 = rand({1000});
  EXPECT_FALSE(equal(u, u3)) << "the generator offset must advance";
  EXPECT_GE(min(u).item(), 0.0);
  EXPECT_LT(max(u).item(), 1.0);
  EXPECT_NEAR(mean(u).item(), 0.5, 0.05);
  Tensor n = randn({20000});
  EXPECT_NEAR(mean(n).item(), 0.0, 0.03);
  EXPECT_NEAR(std(n).item(), 1.0, 0.03);
  Tensor r = randint(-3, 4, {5000});
  EXPECT_EQ(r.dtype(), DType::Int64);
  EXPECT_EQ(min(r).item(), -3);
  EXPECT_EQ(max(r).item(), 3);
}

TEST(Conversion, ToDtypeCloneItemContiguous) {
  Tensor x = tensor({1.7, -2.2, 3.0});
  expect_values(x.to(DType::Int64), {3}, {1, -2, 3});  // truncation toward zero
  expect_values(x.to(DType::Bool), {3}, {1, 1, 1});
  expect_values(x.to(DType::BFloat16), {3}, {1.703125, -2.203125, 3}, 0, 0);
  expect_values(x.to(DType::Float16), {3}, {1.7001953125, -2.19921875, 3}, 0, 0);
  Tensor c = x.clone();
  EXPECT_FALSE(c.shares_storage(x));
  EXPECT_DOUBLE_EQ(tensor({4.25}).item(), 4.25);
  EXPECT_THROW_MSG(x.item(), ValueError, "item", "3 elements", "[3]");
  Tensor t = ones({2, 3}).t();
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_TRUE(t.contiguous().is_contiguous());
  EXPECT_TRUE(x.contiguous().is_same(x));
}

TEST(Conversion, HalfAndBFloat16RoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.0009765625f})
    EXPECT_EQ(float(Half(f)), f) << f;
  EXPECT_TRUE(std::isinf(float(Half(70000.0f))));
  EXPECT_TRUE(std::isnan(float(Half(NAN))));
  EXPECT_EQ(float(Half(1.0f + 1.0f / 4096)), 1.0f);  // ties to even
  EXPECT_EQ(float(BFloat16(1.0f)), 1.0f);
  EXPECT_EQ(float(BFloat16(1.0f + 1.0f / 256)), 1.0f);  // ties to even
  EXPECT_TRUE(std::isnan(float(BFloat16(NAN))));
}

TEST(Views, ShareStorage) {
  Tensor x = arange(12, TensorOptions(DType::Float32)).view({3, 4});
  Tensor v = x.view({4, 3});
  Tensor t = x.t();
  Tensor s = x.slice(1, 0, 4, 2);
  Tensor n = x.narrow(0, 1, 2);
  Tensor sel = x.select(1, 3);
  Tensor e = x.select(0, 0).unsqueeze(0).expand({2, 4});
  Tensor f = x.flatten();
  Tensor p = x.unsqueeze(0).permute({2, 0, 1}).squeeze(1);
  for (const Tensor& view : {v, t, s, n, sel, e, f, p}) EXPECT_TRUE(view.shares_storage(x));
  expect_values(s, {3, 2}, {0, 2, 4, 6, 8, 10});
  expect_values(sel, {3}, {3, 7, 11});
  expect_values(n, {2, 4}, {4, 5, 6, 7, 8, 9, 10, 11});
  expect_values(p, {4, 3}, {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  expect_values(x.slice(0, -2, std::nullopt), {2, 4}, {4, 5, 6, 7, 8, 9, 10, 11});
  {
    NoGradGuard no_grad;
    s.fill_(-1);  // writes through to x
  }
  expect_values(x.select(0, 0), {4}, {-1, 1, -1, 3});
  // view of a non-contiguous tensor fails with a clear message; reshape copies.
  EXPECT_THROW_MSG(t.view({12}), ValueError, "view", "[4, 3]", "reshape");
  Tensor r = t.reshape({12});
  EXPECT_FALSE(r.shares_storage(x));
  expect_values(t.reshape({2, 6}), {2, 6}, {-1, -1, -1, 1, 5, 9, -1, -1, -1, 3, 7, 11});
  EXPECT_EQ(x.view({-1, 6}).shape(), (Shape{2, 6}));
  EXPECT_EQ(x.flatten(0, 1).shape(), (Shape{12}));
  EXPECT_EQ(ones({2, 1, 3, 1}).squeeze().shape(), (Shape{2, 3}));
  EXPECT_EQ(ones({2, 1, 3, 1}).squeeze(-1).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(ones({2, 3}).unsqueeze(-1).shape(), (Shape{2, 3, 1}));
}

TEST(Broadcasting, ShapesAndErrors) {
  Tensor a = tensor({1, 2, 3}, {3, 1}), b = tensor({10, 20}, {2});
  expect_values(a + b, {3, 2}, {11, 21, 12, 22, 13, 23});
  EXPECT_THROW_MSG(ones({2, 3}) + ones({3, 2}), ValueError, "add", "[2, 3]", "[3, 2]");
  EXPECT_EQ(broadcast_shapes("x", {5, 1, 4}, {3, 1}), (Shape{5, 3, 4}));
}

TEST(TypePromotion, FollowsPyTorch) {
  Tensor i64 = arange(3), f32 = ones({3}), f64 = ones({3}, DType::Float64);
  Tensor f16 = ones({3}, DType::Float16), bf16 = ones({3}, DType::BFloat16);
  Tensor b = ones({3}, DType::Bool), u8 = ones({3}, DType::UInt8), i32 = ones({3}, DType::Int32);
  EXPECT_EQ((i64 + f32).dtype(), DType::Float32);
  EXPECT_EQ((f32 + f64).dtype(), DType::Float64);
  EXPECT_EQ((f16 + bf16).dtype(), DType::Float32);
  EXPECT_EQ((u8 + i32).dtype(), DType::Int32);
  EXPECT_EQ((b + b).dtype(), DType::Bool);
  EXPECT_EQ((b + u8).dtype(), DType::UInt8);
  EXPECT_EQ((i64 * 2.5).dtype(), DType::Float32);  // a number does not widen beyond default
  EXPECT_EQ((f16 * 2.5).dtype(), DType::Float16);
  EXPECT_EQ((i32 * 2).dtype(), DType::Int32);
  EXPECT_EQ((f32 + scalar_tensor(1.0, DType::Float64)).dtype(), DType::Float32);  // 0-d tensor
  EXPECT_EQ((i64 + scalar_tensor(1.0, DType::Float64)).dtype(), DType::Float64);
  EXPECT_EQ((i64 / i64).dtype(), DType::Float32);  // true division
  expect_values(i64 / 2, {3}, {0, 0.5, 1});
  expect_values(
      floor_divide(tensor(std::vector<int64_t>{-7, 7}), tensor(std::vector<int64_t>{2, -2})), {2},
      {-4, -4});
  expect_values(remainder(tensor({-7.0, 7.0}), tensor({2.0, -2.0})), {2}, {1, -1});
  expect_values((b + b), {3}, {1, 1, 1});
  // float64 scalars keep their precision in float64 arithmetic
  EXPECT_DOUBLE_EQ((ones({1}, DType::Float64) * 0.1).item(), 0.1);
}

TEST(Elementwise, ValuesAgainstHandComputed) {
  Tensor x = tensor({-1.0, 0.0, 2.0});
  expect_values(relu(x), {3}, {0, 0, 2});
  expect_values(leaky_relu(x, 0.1), {3}, {-0.1, 0, 2});
  expect_values(sigmoid(x), {3}, {1 / (1 + std::exp(1.0)), 0.5, 1 / (1 + std::exp(-2.0))});
  expect_values(gelu(x), {3}, {-0.15865525393145707, 0, 1.9544997361036416});
  expect_values(gelu(x, "tanh"), {3}, {-0.15880800939172324, 0, 1.9545976940871754});
  expect_values(silu(x), {3}, {-0.2689414213699951, 0, 1.7615941559557649});
  expect_values(softplus(x), {3}, {0.31326168751822286, 0.6931471805599453, 2.1269280110429727});
  expect_values(softplus(tensor({30.0})), {1}, {30});  // linear above the threshold
  expect_values(elu(x, 2.0), {3}, {2 * (std::exp(-1.0) - 1), 0, 2});
  expect_values(clamp(x, -0.5, 1.0), {3}, {-0.5, 0, 1});
  expect_values(pow(x, 2), {3}, {1, 0, 4});
  expect_values(pow(2.0, x), {3}, {0.5, 1, 4});
  expect_values(sign(x), {3}, {-1, 0, 1});
  expect_values(abs(arange(-2, 1)), {3}, {2, 1, 0});
  expect_values(minimum(x, tensor({0.0})), {3}, {-1, 0, 0});
  expect_values(maximum(tensor({NAN, 1.0}), tensor({0.0, 2.0})), {2}, {NAN, 2});
  expect_values(where(x > 0, x, tensor({9.0})), {3}, {9, 9, 2});
  expect_values(round(tensor({0.5, 1.5, 2.5, -0.5})), {4}, {0, 2, 2, -0});
  expect_values(pow(arange(4), 2), {4}, {0, 1, 4, 9});
  EXPECT_EQ(pow(arange(4), 2).dtype(), DType::Int64);
  EXPECT_EQ(exp(arange(2)).dtype(), DType::Float32);
  expect_values(eq(x, tensor({-1.0})), {3}, {1, 0, 0});
  EXPECT_EQ((x < 0).dtype(), DType::Bool);
  EXPECT_TRUE(allclose(tensor({1.0, 2.0}), tensor({1.0, 2.0 + 1e-9})));
  EXPECT_FALSE(allclose(tensor({1.0, 2.0}), tensor({1.0, 2.1})));
}

TEST(InPlace, OpsAndVersions) {
  Tensor x = zeros({3});
  uint64_t v0 = x.version();
  x.add_(tensor({1.0, 2.0, 3.0})).mul_(2.0);
  EXPECT_EQ(x.version(), v0 + 2);
  expect_values(x, {3}, {2, 4, 6});
  x.sub_(1.0).div_(tensor({1.0, 3.0, 5.0}));
  expect_values(x, {3}, {1, 1, 1});
  x.copy_(tensor({-1.0, 0.5, 4.0}));
  x.clamp_(0.0, 1.0);
  expect_values(x, {3}, {0, 0.5, 1});
  x.masked_fill_(tensor({1.0, 0.0, 1.0}) > 0, 7);
  expect_values(x, {3}, {7, 0.5, 7});
  x.zero_();
  expect_values(x, {3}, {0, 0, 0});
  Tensor i = arange(3);
  i.add_(2);  // stays int64
  EXPECT_EQ(i.dtype(), DType::Int64);
  expect_values(i, {3}, {2, 3, 4});
  EXPECT_THROW_MSG(zeros({3}).add_(ones({2, 3})), ValueError, "add_", "[2, 3]", "[3]");
}

TEST(Printing, LikePyTorch) {
  EXPECT_EQ(tensor({1.0, 2.0, 3.0}).str(), "tensor([1., 2., 3.])");
  EXPECT_EQ(tensor({1.5, -2.25}).str(), "tensor([ 1.5000, -2.2500])");
  EXPECT_EQ(tensor({1, 2, 3, 4}, {2, 2}).str(), "tensor([[1., 2.],\n        [3., 4.]])");
  EXPECT_EQ(arange(3).str(), "tensor([0, 1, 2])");
  EXPECT_EQ(tensor({0.5}, {}, DType::Float64).reshape({}).str(),
            "tensor(0.5000, dtype=kiln.float64)");
  EXPECT_EQ((arange(3) > 0).str(), "tensor([False,  True,  True])");
  EXPECT_EQ(tensor({1e-5, 1.0}).str(), "tensor([1.0000e-05, 1.0000e+00])");
  Tensor x = tensor({1.0, 2.0}).requires_grad_(true);
  EXPECT_EQ(x.str(), "tensor([1., 2.], requires_grad=True)");
  EXPECT_EQ((x * 2.0).str(), "tensor([2., 4.], grad_fn=<MulBackward0>)");
  EXPECT_EQ(zeros({0}).str(), "tensor([])");
  EXPECT_EQ(zeros({0, 2}).str(), "tensor([], size=(0, 2))");
  std::string big = arange(2000).str();
  EXPECT_EQ(big, "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  EXPECT_EQ(tensor({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2}).str(),
            "tensor([[[1., 2.],\n         [3., 4.]],\n\n        [[5., 6.],\n         [7., 8.]]])");
}

TEST(Devices, ParseAndReport) {
  EXPECT_EQ(Device("cpu").str(), "cpu");
  EXPECT_EQ(Device("cuda:1").str(), "cuda:1");
  EXPECT_EQ(Device("cuda").index, 0);
  EXPECT_THROW_MSG(Device("tpu"), ValueError, "tpu");
  EXPECT_THROW_MSG(Device("cuda:x"), ValueError, "cuda:x");
  if (!cuda_available()) {
    EXPECT_THROW_MSG(zeros({2}).to(Device::cuda(0)), Error, "cuda");
  }
}

}  // namespace
}  // namespace kiln::testing
