// The convolution modules Conv1d, Conv2d, Conv3d and ConvTranspose2d
// (include/kiln/nn/convolution.h): parameter names and shapes, initialisation bounds, reprs
// against the strings PyTorch 1.13 prints, padding modes and 'same' against the functional
// forms, ConvTranspose2d's output_size, and constructor errors. The functions themselves are
// tested in test_conv.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kiln/nn/conv.h"
#include "kiln/nn/convolution.h"
#include "kiln/nn/resample.h"
#include "kiln/ops.h"
#include "kiln/random.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::testing;
namespace F = kiln::nn::functional;

namespace {

// sin(a * i + b) in row-major order, float64.
Tensor seq(const Shape& shape, double a, double b) {
  std::vector<double> v(size_t(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(a * double(i) + b);
  return tensor(v, shape, TensorOptions(DType::Float64));
}

}  // namespace

TEST(ConvModules, ParametersInitAndRepr) {
  manual_seed(0);
  nn::Conv2d c2(3, 8, 3);
  EXPECT_EQ(c2.repr(), "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))");
  ASSERT_EQ(c2.named_parameters().size(), 2u);
  EXPECT_EQ(c2.named_parameters()[0].first, "weight");
  EXPECT_EQ(c2.named_parameters()[1].first, "bias");
  EXPECT_EQ(c2.weight.shape(), (Shape{8, 3, 3, 3}));
  EXPECT_EQ(c2.bias.shape(), (Shape{8}));
  // kaiming_uniform_(a=sqrt(5)) and the bias both draw from U(-1/sqrt(27), 1/sqrt(27)).
  const double bound = 1.0 / std::sqrt(27.0);
  EXPECT_LE(max(abs(c2.weight)).item<double>(), bound);
  EXPECT_GT(max(abs(c2.weight)).item<double>(), 0.8 * bound);
  EXPECT_LE(max(abs(c2.bias)).item<double>(), bound);

  nn::Conv1d c1(4, 6, 3, {.stride = 2, .padding = 1, .dilation = 2, .groups = 2, .bias = false});
  EXPECT_EQ(c1.repr(),
            "Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), dilation=(2,), groups=2, "
            "bias=False)");
  EXPECT_EQ(c1.weight.shape(), (Shape{6, 2, 3}));
  EXPECT_FALSE(c1.bias.defined());
  EXPECT_EQ(c1.named_parameters().size(), 1u);

  nn::Conv2d same(16, 16, {3, 5}, {.padding = "same", .groups = 16, .padding_mode = "reflect"});
  EXPECT_EQ(same.repr(),
            "Conv2d(16, 16, kernel_size=(3, 5), stride=(1, 1), padding=same, groups=16, "
            "padding_mode=reflect)");
  EXPECT_EQ(same.weight.shape(), (Shape{16, 1, 3, 5}));
  EXPECT_EQ(nn::Conv2d(4, 4, 2, {.padding = "valid"}).repr(),
            "Conv2d(4, 4, kernel_size=(2, 2), stride=(1, 1), padding=valid)");

  nn::Conv3d c3(2, 4, {1, 2, 3}, {.stride = {1, 2, 1}, .padding = 1, .padding_mode = "circular"});
  EXPECT_EQ(c3.repr(),
            "Conv3d(2, 4, kernel_size=(1, 2, 3), stride=(1, 2, 1), padding=(1, 1, 1), "
            "padding_mode=circular)");
  EXPECT_EQ(c3.weight.shape(), (Shape{4, 2, 1, 2, 3}));

  nn::ConvTranspose2d ct(
      4, 6, 3, {.stride = 2, .padding = 1, .output_padding = 1, .groups = 2, .dilation = {1, 2}});
  EXPECT_EQ(ct.repr(),
            "ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
            "dilation=(1, 2), output_padding=(1, 1), groups=2)");
  EXPECT_EQ(ct.weight.shape(), (Shape{4, 3, 3, 3}));  // [in, out / groups, kH, kW]
  EXPECT_EQ(ct.bias.shape(), (Shape{6}));
  EXPECT_EQ(nn::ConvTranspose2d(4, 6, 3, {.bias = false}).repr(),
            "ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(1, 1), bias=False)");
}

TEST(ConvModules, ForwardMatchesFunctional) {
  const Tensor x = seq({2, 4, 6, 5}, 0.37, 0.1).to(DType::Float32);
  nn::Conv2d c(4, 6, {3, 2}, {.stride = {2, 1}, .padding = {1, 0}, .groups = 2});
  expect_close(c(x), F::conv2d(x, c.weight, c.bias, {2, 1}, {1, 0}, {1, 1}, 2), 0, 0);
  // padding_mode: pad the input by the padding (same's odd element after), then no padding
  for (const char* mode : {"reflect", "replicate", "circular"}) {
    SCOPED_TRACE(mode);
    nn::Conv2d m(4, 6, 3, {.padding = {1, 2}, .padding_mode = mode});
    const Tensor xf = x;
    expect_close(m(xf), F::conv2d(F::pad(xf, {2, 2, 1, 1}, mode), m.weight, m.bias), 1e-6, 1e-6);
    nn::Conv1d m1(4, 6, 4, {.padding = "same", .dilation = 1, .padding_mode = mode});
    const Tensor x1 = select(xf, 3, 0);  // [2, 4, 6]
    expect_close(m1(x1), F::conv1d(F::pad(x1, {1, 2}, mode), m1.weight, m1.bias), 1e-6, 1e-6);
  }
  nn::Conv3d c3(4, 2, 3, {.padding = "same"});
  const Tensor x3 = unsqueeze(x, 2);  // [2, 4, 1, 6, 5]
  expect_close(c3(x3), F::conv3d(x3, c3.weight, c3.bias, {1, 1, 1}, {1, 1, 1}), 1e-6, 1e-6);
  EXPECT_EQ(c3(x3).shape(), (Shape{2, 2, 1, 6, 5}));
}

TEST(ConvModules, ConvTransposeOutputSize) {
  nn::ConvTranspose2d ct(4, 2, 3, {.stride = 2, .padding = 1});
  const Tensor x = seq({1, 4, 3, 4}, 0.37, 0.1).to(DType::Float32);
  // smallest output (3 - 1) * 2 - 2 + 2 + 1 = 5 by (4 - 1) * 2 - 2 + 2 + 1 = 7; up to + 1
  EXPECT_EQ(ct(x).shape(), (Shape{1, 2, 5, 7}));
  const Tensor y = ct(x, {6, 7});
  EXPECT_EQ(y.shape(), (Shape{1, 2, 6, 7}));
  expect_close(y, F::conv_transpose2d(x, ct.weight, ct.bias, {2, 2}, {1, 1}, {1, 0}), 0, 0);
  EXPECT_EQ(ct(x, {1, 2, 6, 8}).shape(), (Shape{1, 2, 6, 8}));
  EXPECT_EQ(ct(select(x, 0, 0), {4, 6, 8}).shape(), (Shape{2, 6, 8}));
  EXPECT_THROW_MSG(ct(x, {7, 7}), ValueError,
                   "ConvTranspose2d: requested an output size of (7, 7), but valid sizes range "
                   "from (5, 7) to (6, 8)");
  EXPECT_THROW_MSG(ct(x, {7}), ValueError, "output_size must have 2 or 4 elements (got 1)");
}

TEST(ConvModules, Errors) {
  EXPECT_THROW_MSG(nn::Conv2d(3, 6, 3, {.groups = 2}), ValueError,
                   "Conv2d: in_channels must be divisible by groups");
  EXPECT_THROW_MSG(nn::Conv2d(4, 6, 3, {.groups = 4}), ValueError,
                   "Conv2d: out_channels must be divisible by groups");
  EXPECT_THROW_MSG(nn::Conv1d(4, 6, 3, {.groups = 0}), ValueError,
                   "Conv1d: groups must be a positive integer");
  EXPECT_THROW_MSG(nn::Conv2d(4, 6, 3, {.stride = 2, .padding = "same"}), ValueError,
                   "Conv2d: padding='same' is not supported for strided convolutions");
  EXPECT_THROW_MSG(nn::Conv2d(4, 6, 3, {.padding = "full"}), ValueError,
                   "Conv2d: invalid padding string 'full'");
  EXPECT_THROW_MSG(nn::Conv3d(4, 6, 3, {.padding_mode = "mirror"}), ValueError,
                   "Conv3d: padding_mode must be one of");
  EXPECT_THROW_MSG(nn::ConvTranspose2d(4, 6, 3, {.padding_mode = "reflect"}), ValueError,
                   "ConvTranspose2d: only \"zeros\" padding mode is supported");
  EXPECT_THROW_MSG(nn::Conv2d(4, 6, {3, 0}), ValueError, "Conv2d: kernel_size must be positive");
  nn::Conv2d c(3, 4, 3);
  EXPECT_THROW_MSG(c(seq({1, 4, 5, 5}, 0.1, 0).to(DType::Float32)), ValueError,
                   "conv2d: input has 4 channels but weight expects 3 (groups=1)");
}
