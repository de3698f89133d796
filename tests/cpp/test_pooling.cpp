// The rest of the pooling family (include/kiln/nn/pooling.h): max_pool1d, avg_pool1d,
// adaptive_avg_pool1d/2d, adaptive_max_pool2d, max_unpool2d and the pooling modules. Values
// worked out by hand in the comments, fp64 gradchecks (first and second order) over the option
// space, and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/gradcheck.h"
#include "kiln/nn/pooling.h"
#include "kiln/ops.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::testing;
namespace F = kiln::nn::functional;
using F::Size2;

namespace {

Tensor f64(const std::vector<double>& v, const Shape& shape, bool requires_grad = false) {
  return tensor(v, shape, TensorOptions(DType::Float64, Device::cpu(), requires_grad));
}

// sin(a * i + b) in row-major order: distinct values, so max pooling has no ties.
Tensor seq(const Shape& shape, double a, double b) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = std::sin(a * double(i) + b);
  return f64(v, shape, true);
}

void expect_gradcheck(const autograd::Function& f, const std::vector<Tensor>& inputs) {
  GradcheckOptions opt;
  opt.check_second_order = true;
  GradcheckResult res = gradcheck(f, inputs, opt);
  EXPECT_TRUE(res.ok) << res.message;
}

}  // namespace

// ---------------- 1-D pooling ----------------

TEST(Pool1d, MaxByHand) {
  Tensor x = f64({1, 3, 2, 5, 4}, {1, 1, 5});
  // Windows {1,3} {2,5}; the trailing 4 is dropped without ceil_mode.
  auto [v, i] = F::max_pool1d_with_indices(x, 2);
  expect_exact_values(v, {1, 1, 2}, {3, 5});
  expect_exact_values(i, {1, 1, 2}, {1, 3});
  auto [vc, ic] = F::max_pool1d_with_indices(x, 2, 2, 0, 1, true);
  expect_exact_values(vc, {1, 1, 3}, {3, 5, 4});
  expect_exact_values(ic, {1, 1, 3}, {1, 3, 4});
  // padding 1: windows {pad,1} {3,2} {5,4}.
  auto [vp, ip] = F::max_pool1d_with_indices(x, 2, 2, 1);
  expect_exact_values(vp, {1, 1, 3}, {1, 3, 5});
  expect_exact_values(ip, {1, 1, 3}, {0, 1, 3});
  // dilation 2, stride 1: taps {0,2} {1,3} {2,4}; unbatched [C, L].
  expect_exact_values(F::max_pool1d(f64({1, 3, 2, 5, 4}, {1, 5}), 2, 1, 0, 2), {1, 3}, {2, 5, 4});
}

TEST(Pool1d, AvgByHand) {
  Tensor x = f64({1, 3, 2, 5, 4}, {1, 1, 5});
  expect_exact_values(F::avg_pool1d(x, 2), {1, 1, 2}, {2, 3.5});
  // padding 1: windows {pad,1} {3,2} {5,4}; the first divides by 2, or by 1 without the pad.
  expect_exact_values(F::avg_pool1d(x, 2, 2, 1), {1, 1, 3}, {0.5, 2.5, 4.5});
  expect_exact_values(F::avg_pool1d(x, 2, 2, 1, false, false), {1, 1, 3}, {1, 2.5, 4.5});
  // ceil_mode: a last window {4} clipped to the input.
  expect_exact_values(F::avg_pool1d(x, 2, 2, 0, true), {1, 1, 3}, {2, 3.5, 4});
}

TEST(Pool1d, Gradcheck) {
  for (bool ceil_mode : {false, true})
    for (int64_t padding : {0, 1}) {
      expect_gradcheck(
          [&](const std::vector<Tensor>& in) {
            return std::vector<Tensor>{F::max_pool1d(in[0], 3, 2, padding, 2, ceil_mode)};
          },
          {seq({2, 2, 7}, 0.37, 0.1)});
      for (bool cip : {false, true})
        expect_gradcheck(
            [&](const std::vector<Tensor>& in) {
              return std::vector<Tensor>{F::avg_pool1d(in[0], 3, 2, padding, ceil_mode, cip)};
            },
            {seq({2, 6}, 0.53, 0.2)});
    }
}

TEST(Pool1d, Errors) {
  Tensor x = f64({1, 3, 2, 5, 4}, {1, 1, 5});
  EXPECT_THROW_MSG(F::max_pool1d(x, 7), ValueError, "max_pool1d", "output size", "[1, 1, 5]",
                   "kernel 7", "stride 7");
  EXPECT_THROW_MSG(F::max_pool1d(x, 3, 1, 2), ValueError, "max_pool1d",
                   "at most half of kernel size", "padding 2");
  EXPECT_THROW_MSG(F::avg_pool1d(f64({1, 2}, {1, 1, 1, 2}), 1), ValueError, "avg_pool1d",
                   "[1, 1, 1, 2]");
  EXPECT_THROW_MSG(F::max_pool1d(x, 3, 1, 0, 3), ValueError, "max_pool1d", "output size",
                   "dilation 3");
}

// ---------------- adaptive pooling ----------------

TEST(AdaptivePool, AvgByHand) {
  // Length 5 to 3: windows [0, 2) [1, 4) [3, 5).
  expect_values(F::adaptive_avg_pool1d(f64({1, 3, 2, 5, 4}, {1, 1, 5}), 3), {1, 1, 3},
                {2, 10.0 / 3, 4.5}, 1e-15);
  // 3x3 (0..8) to 2x2: rows and columns [0, 2) [1, 3).
  Tensor x = f64({0, 1, 2, 3, 4, 5, 6, 7, 8}, {1, 3, 3});
  expect_values(F::adaptive_avg_pool2d(x, {2, 2}), {1, 2, 2}, {2, 3, 5, 6}, 1e-15);
  // -1 keeps the width: rows [0, 2) [1, 3) over each column.
  expect_values(F::adaptive_avg_pool2d(x, {2, -1}), {1, 2, 3}, {1.5, 2.5, 3.5, 4.5, 5.5, 6.5},
                1e-15);
  // To 1x1: the global mean.
  expect_values(F::adaptive_avg_pool2d(x, {1, 1}), {1, 1, 1}, {4}, 1e-15);
  // Zero output size: an empty result.
  EXPECT_EQ(F::adaptive_avg_pool2d(x, {0, 2}).shape(), (Shape{1, 0, 2}));
}

TEST(AdaptivePool, MaxByHand) {
  Tensor x = f64({1, 9, 2, 3, 4, 8, 7, 6, 5}, {1, 1, 3, 3});
  auto [v, i] = F::adaptive_max_pool2d_with_indices(x, {2, 2});
  expect_exact_values(v, {1, 1, 2, 2}, {9, 9, 7, 8});
  expect_exact_values(i, {1, 1, 2, 2}, {1, 1, 6, 5});
  auto [v2, i2] = F::adaptive_max_pool2d_with_indices(x, {2, -1});
  expect_exact_values(v2, {1, 1, 2, 3}, {3, 9, 8, 7, 6, 8});
  expect_exact_values(i2, {1, 1, 2, 3}, {3, 1, 5, 6, 7, 5});
  // Ties: the first in row-major order.
  auto [vt, it] = F::adaptive_max_pool2d_with_indices(f64({2, 2, 2, 2}, {1, 2, 2}), {1, 1});
  expect_exact_values(it, {1, 1, 1}, {0});
  // 5 -> 2 upsamples nothing but 2 -> 3 repeats: windows [0, 1) [0, 2) [1, 2).
  expect_exact_values(F::adaptive_max_pool2d(f64({1, 4}, {1, 1, 2}), {1, 3}), {1, 1, 3}, {1, 4, 4});
}

TEST(AdaptivePool, Gradcheck) {
  for (Size2 out : std::vector<Size2>{{2, 3}, {3, 2}, {1, 1}, {4, -1}}) {
    expect_gradcheck(
        [&](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{F::adaptive_avg_pool2d(in[0], out)};
        },
        {seq({2, 2, 3, 5}, 0.37, 0.1)});
    expect_gradcheck(
        [&](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{F::adaptive_max_pool2d(in[0], out)};
        },
        {seq({2, 3, 5}, 0.61, 0.3)});
  }
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::adaptive_avg_pool1d(in[0], 3)};
      },
      {seq({2, 2, 7}, 0.43, 0.2)});
}

TEST(AdaptivePool, Errors) {
  EXPECT_THROW_MSG(F::adaptive_avg_pool2d(f64({1, 2, 3, 4}, {2, 2}), {1, 1}), ValueError,
                   "adaptive_avg_pool2d", "[2, 2]");
  EXPECT_THROW_MSG(F::adaptive_max_pool2d(f64({1, 2}, {1, 1, 2}), {-2, 1}), ValueError,
                   "adaptive_max_pool2d", "output_size", "[1, 1, 2]");
  EXPECT_THROW_MSG(F::adaptive_avg_pool1d(f64({1, 2}, {1, 1, 2}), -1), ValueError,
                   "adaptive_avg_pool1d", "output_size");
}

// ---------------- unpooling ----------------

TEST(MaxUnpool2d, ByHand) {
  Tensor x = f64({5, 6, 7, 8}, {1, 1, 2, 2});
  Tensor idx = tensor(std::vector<int64_t>{1, 3, 8, 14}, {1, 1, 2, 2});
  // Default size (2 - 1) * 2 + 2 = 4.
  expect_exact_values(F::max_unpool2d(x, idx, {2, 2}), {1, 1, 4, 4},
                      {0, 5, 0, 6, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 8, 0});
  // output_size 5x5 (within stride of 4): the same flat positions in a 5-wide plane.
  expect_exact_values(
      F::max_unpool2d(x, idx, {2, 2}, {0, 0}, {0, 0}, std::vector<int64_t>{1, 1, 5, 5}),
      {1, 1, 5, 5}, {0, 5, 0, 6, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  // Round trip through max_pool2d_with_indices, unbatched.
  Tensor y = f64({1, 9, 2, 3, 4, 8, 7, 6, 5, 0, 1, 2, 3, 4, 5, 6}, {1, 4, 4});
  auto [v, i] = F::max_pool2d_with_indices(y, {2, 2});
  expect_exact_values(F::max_unpool2d(v, i, {2, 2}), {1, 4, 4},
                      {0, 9, 0, 0, 0, 0, 7, 0, 5, 0, 0, 0, 0, 0, 0, 6});
}

TEST(MaxUnpool2d, Gradcheck) {
  Tensor y = seq({2, 2, 4, 5}, 0.37, 0.1);
  auto [v, i] = F::max_pool2d_with_indices(y.detach(), {2, 2}, {2, 2}, {1, 1});
  expect_gradcheck(
      [&](const std::vector<Tensor>& in) {
        // The default size is 4x4; the pooled plane was 4x5.
        return std::vector<Tensor>{
            F::max_unpool2d(in[0], i, {2, 2}, {2, 2}, {1, 1}, std::vector<int64_t>{4, 5})};
      },
      {seq(v.shape(), 0.71, 0.3)});
}

TEST(MaxUnpool2d, Errors) {
  Tensor x = f64({5, 6, 7, 8}, {1, 1, 2, 2});
  Tensor idx = tensor(std::vector<int64_t>{1, 3, 8, 99}, {1, 1, 2, 2});
  EXPECT_THROW_MSG(F::max_unpool2d(x, idx, {2, 2}), ValueError, "max_unpool2d",
                   "invalid max index 99", "4x4");
  Tensor ok = tensor(std::vector<int64_t>{1, 3, 8, 9}, {1, 1, 2, 2});
  EXPECT_THROW_MSG(F::max_unpool2d(x, ok, {2, 2}, {0, 0}, {0, 0}, std::vector<int64_t>{6, 4}),
                   ValueError, "max_unpool2d", "invalid output_size", "between 2 and 6");
  EXPECT_THROW_MSG(F::max_unpool2d(x, tensor(std::vector<int64_t>{1, 3}, {1, 2}), {2, 2}),
                   ValueError, "max_unpool2d", "indices", "[1, 1, 2, 2]");
}

// ---------------- modules ----------------

TEST(PoolingModules, ForwardAndRepr) {
  Tensor x = f64({1, 3, 2, 5, 4}, {1, 1, 5});
  nn::MaxPool1d mp1(2);
  expect_exact_values(mp1(x), {1, 1, 2}, {3, 5});
  expect_exact_values(mp1.forward_with_indices(x).second, {1, 1, 2}, {1, 3});
  EXPECT_EQ(mp1.repr(),
            "MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
  nn::AvgPool1d ap1(2, 2, 1);
  expect_exact_values(ap1(x), {1, 1, 3}, {0.5, 2.5, 4.5});
  EXPECT_EQ(ap1.repr(), "AvgPool1d(kernel_size=(2,), stride=(2,), padding=(1,))");
  Tensor x2 = f64({1, 9, 2, 3, 4, 8, 7, 6, 5}, {1, 1, 3, 3});
  nn::MaxPool2d mp2({2, 2}, {1, 1});
  expect_exact_values(mp2(x2), {1, 1, 2, 2}, {9, 9, 7, 8});
  EXPECT_EQ(mp2.repr(),
            "MaxPool2d(kernel_size=2, stride=1, padding=0, dilation=1, ceil_mode=False)");
  nn::AvgPool2d ap2({3, 3});
  expect_values(ap2(x2), {1, 1, 1, 1}, {5}, 1e-15);
  nn::AdaptiveAvgPool2d aap({1, -1});
  expect_values(aap(x2), {1, 1, 1, 3}, {11.0 / 3, 19.0 / 3, 5}, 1e-15);
  EXPECT_EQ(aap.repr(), "AdaptiveAvgPool2d(output_size=(1, None))");
  nn::AdaptiveAvgPool1d aap1(1);
  expect_values(aap1(x), {1, 1, 1}, {3}, 1e-15);
  nn::AdaptiveMaxPool2d amp({2, 2}, true);
  auto [v, i] = amp.forward_with_indices(x2);
  expect_exact_values(i, {1, 1, 2, 2}, {1, 1, 6, 5});
  EXPECT_EQ(amp.repr(), "AdaptiveMaxPool2d(output_size=2)");
  nn::MaxUnpool2d unpool({2, 2}, {1, 1});
  expect_exact_values(unpool(v, i), {1, 1, 3, 3}, {0, 9, 0, 0, 0, 8, 7, 0, 0});
  EXPECT_EQ(unpool.repr(), "MaxUnpool2d(kernel_size=2, stride=1, padding=0)");
  EXPECT_THROW_MSG(unpool.forward(v), ValueError, "MaxUnpool2d", "indices");
  EXPECT_TRUE(mp2.state_dict().empty());
}
