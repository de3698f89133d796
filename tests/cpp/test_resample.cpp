// pad, interpolate, pixel_shuffle / pixel_unshuffle, dropout2d and their modules
// (include/kiln/nn/resample.h): hand-worked values, PyTorch's error cases, and fp64 gradchecks
// (first and second order) over the modes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/gradcheck.h"
#include "kiln/nn/resample.h"
#include "kiln/ops.h"
#include "kiln/random.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace F = nn::functional;
using testing::error_message;
using testing::expect_contains;
using testing::expect_values;

Tensor row(const std::vector<double>& v, const Shape& shape) {
  return tensor(v, shape, TensorOptions(DType::Float64));
}

void expect_gradcheck(const autograd::Function& f, const std::vector<Tensor>& inputs) {
  GradcheckOptions opt;
  opt.check_second_order = true;
  GradcheckResult res = gradcheck(f, inputs, opt);
  EXPECT_TRUE(res.ok) << res.message;
}

Tensor rand64(const Shape& s) {
  Tensor t = randn(s, TensorOptions(DType::Float64));
  t.requires_grad_(true);
  return t;
}

// ---------------- pad ----------------

TEST(Pad, ModesOnARow) {
  Tensor x = row({1, 2, 3}, {1, 1, 3});
  expect_values(F::pad(x, {2, 1}, "reflect"), {1, 1, 6}, {3, 2, 1, 2, 3, 2});
  expect_values(F::pad(x, {2, 1}, "replicate"), {1, 1, 6}, {1, 1, 1, 2, 3, 3});
  expect_values(F::pad(x, {2, 1}, "circular"), {1, 1, 6}, {2, 3, 1, 2, 3, 1});
  expect_values(F::pad(x, {1, -1}, "constant", 9.0), {1, 1, 3}, {9, 1, 2});
  expect_values(F::pad(x, {0, 0, 1, 0}), {1, 2, 3}, {0, 0, 0, 1, 2, 3});
  expect_values(F::pad(x, {-3, 0}), {1, 1, 0}, {});
  // circular with a negative pad crops first, then wraps around what is left (torch 1.13).
  Tensor y = row({0, 1, 2, 3, 4}, {1, 1, 5});
  expect_values(F::pad(y, {-1, 2}, "circular"), {1, 1, 6}, {1, 2, 3, 4, 1, 2});
  expect_values(F::pad(y, {2, -1}, "circular"), {1, 1, 6}, {2, 3, 0, 1, 2, 3});
  expect_values(F::pad(y, {-2, 3}, "circular"), {1, 1, 6}, {2, 3, 4, 2, 3, 4});
}

TEST(Pad, TwoDimsReflect) {
  // [[1, 2], [3, 4]] padded by 1 on every side with reflection.
  Tensor x = row({1, 2, 3, 4}, {1, 1, 2, 2});
  expect_values(F::pad(x, {1, 1, 1, 1}, "reflect"), {1, 1, 4, 4},
                {4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3, 2, 1, 2, 1});
  expect_values(F::pad(x, {1, 0, 0, 1}, "replicate"), {1, 1, 3, 3}, {1, 1, 2, 3, 3, 4, 3, 3, 4});
}

TEST(Pad, ErrorsFollowTorch) {
  Tensor x = zeros({1, 2, 3, 4});
  expect_contains(error_message([&] { F::pad(x, {1, 1, 1}); }), {"pad", "divisible by 2"});
  expect_contains(error_message([&] { F::pad(x, std::vector<int64_t>(10, 1)); }),
                  {"pad", "[1, 2, 3, 4]"});
  expect_contains(error_message([&] {
                    F::pad(x, {3, 3, 3, 3}, "reflect");
                  }),
                  {"pad", "(3, 3)", "dimension 2"});
  expect_contains(error_message([&] { F::pad(x, {4, 1}, "reflect"); }), {"pad", "reflect"});
  expect_contains(error_message([&] {
                    F::pad(x, {1, 1, 1, 1}, "reflect", 1.0);
                  }),
                  {"doesn't take in value"});
  expect_contains(error_message([&] { F::pad(x, {5, 1, 1, 1}, "circular"); }), {"wraps around"});
  expect_contains(error_message([&] {
                    F::pad(zeros({2, 3, 4}), {1, 1, 1, 1}, "circular");
                  }),
                  {"circular", "expects 2"});
  expect_contains(error_message([&] { F::pad(x, {1, 1}, "foo"); }), {"pad", "foo"});
  expect_contains(error_message([&] { F::pad(x, {-4, -2}); }), {"pad", "output size of -2"});
}

TEST(Pad, Gradcheck) {
  manual_seed(1);
  for (std::string mode : {"constant", "reflect", "replicate", "circular"}) {
    SCOPED_TRACE(mode);
    expect_gradcheck(
        [&](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{
              F::pad(in[0], {2, 1, -1, 2}, mode,
                     mode == "constant" ? std::optional<double>(0.5) : std::nullopt)};
        },
        {rand64({1, 2, 3, 3})});
  }
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::pad(in[0], {1, 2}, "reflect")};
      },
      {rand64({2, 4})});
}

// ---------------- interpolate ----------------

TEST(Interpolate, NearestAndLinearOnARow) {
  Tensor x = row({1, 2, 3}, {1, 1, 3});
  // nearest: floor(j * 3 / 5).
  expect_values(F::interpolate(x, {5}), {1, 1, 5}, {1, 1, 2, 2, 3});
  // nearest-exact: floor((j + 0.5) * 3 / 5).
  expect_values(F::interpolate(x, {5}, {}, "nearest-exact"), {1, 1, 5}, {1, 1, 2, 3, 3});
  // linear, half-pixel centres: src = 0.6 (j + 0.5) - 0.5, clamped at 0.
  expect_values(F::interpolate(x, {5}, {}, "linear"), {1, 1, 5}, {1, 1.4, 2, 2.6, 3}, 1e-12);
  // align_corners: src = j * 2 / 4.
  expect_values(F::interpolate(x, {5}, {}, "linear", true), {1, 1, 5}, {1, 1.5, 2, 2.5, 3}, 1e-12);
  // scale_factor 1.7: 5 outputs; the source index uses 1 / 1.7 unless recomputed (3 / 5).
  const double s = 1 / 1.7;
  expect_values(F::interpolate(x, {}, {1.7}, "linear"), {1, 1, 5},
                {1, 1 + (1.5 * s - 0.5), 1 + (2.5 * s - 0.5), 1 + (3.5 * s - 0.5), 3}, 1e-12);
  expect_values(F::interpolate(x, {}, {1.7}, "linear", std::nullopt, true), {1, 1, 5},
                {1, 1.4, 2, 2.6, 3}, 1e-12);
}

TEST(Interpolate, Bilinear2x2) {
  Tensor x = row({1, 2, 3, 4}, {1, 1, 2, 2});
  expect_values(F::interpolate(x, {3, 3}, {}, "bilinear", true), {1, 1, 3, 3},
                {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4}, 1e-12);
  // Half-pixel, scale 2: src = (j + 0.5) / 2 - 0.5 -> 0, 0.25, 0.75, 1.
  expect_values(F::interpolate(x, {}, {2.0}, "bilinear"), {1, 1, 4, 4},
                {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4},
                1e-12);
  expect_values(F::interpolate(x, {}, {2.0}), {1, 1, 4, 4},
                {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

TEST(Interpolate, ErrorsFollowTorch) {
  Tensor x = zeros({1, 2, 3, 4});
  expect_contains(error_message([&] {
                    F::interpolate(x, {5, 6}, {}, "nearest", true);
                  }),
                  {"align_corners"});
  expect_contains(error_message([&] { F::interpolate(x, {5}, {}, "linear"); }),
                  {"interpolate", "linear", "3-D"});
  expect_contains(error_message([&] { F::interpolate(x); }), {"either size or scale_factor"});
  expect_contains(error_message([&] { F::interpolate(x, {5}, {2.0}); }), {"only one of"});
  expect_contains(error_message([&] {
                    F::interpolate(x, {5, 6, 7});
                  }),
                  {"interpolate", "(5, 6, 7)"});
  expect_contains(error_message([&] { F::interpolate(x, {}, {0.1}); }), {"greater than 0"});
  expect_contains(error_message([&] { F::interpolate(x, {5}, {}, "nearest", std::nullopt, true); }),
                  {"recompute_scale_factor"});
  expect_contains(error_message([&] { F::interpolate(x, {5}, {}, "bicubic"); }), {"bicubic"});
}

TEST(Interpolate, Gradcheck) {
  manual_seed(2);
  for (bool ac : {false, true}) {
    expect_gradcheck(
        [&](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{F::interpolate(in[0], {4, 3}, {}, "bilinear", ac)};
        },
        {rand64({1, 2, 3, 2})});
    expect_gradcheck(
        [&](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{F::interpolate(in[0], {}, {1.5}, "linear", ac)};
        },
        {rand64({2, 1, 3})});
  }
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::interpolate(in[0], {}, {2.0, 0.5})};
      },
      {rand64({1, 2, 2, 4})});
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::interpolate(in[0], {2, 3, 2}, {}, "trilinear")};
      },
      {rand64({1, 1, 2, 2, 3})});
}

// ---------------- pixel shuffle ----------------

TEST(PixelShuffle, ValuesAndInverse) {
  Tensor x = row({1, 2, 3, 4}, {1, 4, 1, 1});
  expect_values(F::pixel_shuffle(x, 2), {1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor y = randn({2, 3, 8, 2, 3});
  Tensor z = F::pixel_shuffle(y, 2);
  EXPECT_EQ(z.shape(), (Shape{2, 3, 2, 4, 6}));
  EXPECT_TRUE(equal(F::pixel_unshuffle(z, 2), y));
  expect_contains(error_message([&] {
                    F::pixel_shuffle(zeros({2, 3}), 2);
                  }),
                  {"pixel_shuffle", "at least 3"});
  expect_contains(error_message([&] {
                    F::pixel_shuffle(zeros({1, 3, 2, 2}), 2);
                  }),
                  {"pixel_shuffle", "divisible"});
  expect_contains(error_message([&] { F::pixel_shuffle(zeros({1, 4, 2, 2}), 0); }), {"positive"});
  expect_contains(error_message([&] {
                    F::pixel_unshuffle(zeros({1, 1, 3, 4}), 2);
                  }),
                  {"pixel_unshuffle", "divisible"});
  manual_seed(3);
  expect_gradcheck(
      [](const std::vector<Tensor>& in) { return std::vector<Tensor>{F::pixel_shuffle(in[0], 2)}; },
      {rand64({1, 4, 2, 3})});
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::pixel_unshuffle(in[0], 2)};
      },
      {rand64({3, 2, 4})});
}

// ---------------- dropout2d ----------------

TEST(Dropout2d, WholeChannelsScaled) {
  manual_seed(4);
  Tensor x = ones({4, 8, 3, 3}, TensorOptions(DType::Float64));
  Tensor y = F::dropout2d(x, 0.5, true);
  std::vector<double> v = y.to_vector();
  int zeros_seen = 0, kept = 0;
  for (int64_t c = 0; c < 32; ++c) {
    const double first = v[size_t(c * 9)];
    EXPECT_TRUE(first == 0 || first == 2) << first;
    for (int64_t i = 0; i < 9; ++i) EXPECT_EQ(v[size_t(c * 9 + i)], first);
    (first == 0 ? zeros_seen : kept)++;
  }
  EXPECT_GT(zeros_seen, 0);
  EXPECT_GT(kept, 0);
  // A 3-D input is [N, C, L], as torch 1.13 reads it.
  Tensor y3 = F::dropout2d(ones({6, 5, 4}), 0.5, true);
  std::vector<double> v3 = y3.to_vector();
  for (int64_t c = 0; c < 30; ++c)
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(v3[size_t(c * 4 + i)], v3[size_t(c * 4)]);
  EXPECT_TRUE(equal(F::dropout2d(x, 0.5, false), x));
  EXPECT_EQ(F::dropout2d(x, 1.0, true).to_vector(), std::vector<double>(288, 0.0));
  expect_contains(error_message([&] { F::dropout2d(ones({3}), 0.5, true); }),
                  {"dropout2d", "at least 2"});
  expect_contains(error_message([&] { F::dropout2d(x, 1.5, true); }), {"between 0 and 1"});
  // The gradient is the mask.
  Tensor xr = ones({2, 3, 2, 2}, TensorOptions(DType::Float64));
  xr.requires_grad_(true);
  Tensor out = F::dropout2d(xr, 0.25, true);
  sum(out).backward();
  EXPECT_TRUE(allclose(xr.grad(), out.detach()));
}

// ---------------- modules ----------------

TEST(ResampleModules, ForwardAndRepr) {
  Tensor x = row({1, 2, 3, 4}, {1, 1, 2, 2});
  nn::Upsample up({}, {2.0}, "bilinear", true);
  EXPECT_EQ(up(x).shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(up.repr(), "Upsample(scale_factor=2.0, mode=bilinear)");
  nn::Upsample up2({3, 5});
  EXPECT_EQ(up2.repr(), "Upsample(size=(3, 5), mode=nearest)");
  nn::PixelShuffle ps(2);
  EXPECT_EQ(ps.repr(), "PixelShuffle(upscale_factor=2)");
  nn::PixelUnshuffle pu(2);
  EXPECT_EQ(pu(ps(randn({1, 8, 2, 2}))).shape(), (Shape{1, 8, 2, 2}));
  nn::Dropout2d d(0.3);
  EXPECT_EQ(d.repr(), "Dropout2d(p=0.3, inplace=False)");
  d.eval();
  EXPECT_TRUE(equal(d(x), x));
  nn::ReflectionPad2d rp({1});
  EXPECT_EQ(rp.repr(), "ReflectionPad2d((1, 1, 1, 1))");
  expect_values(rp(x), {1, 1, 4, 4}, {4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3, 2, 1, 2, 1});
  nn::ConstantPad2d cp({1, 0, 0, 0}, 7.5);
  EXPECT_EQ(cp.repr(), "ConstantPad2d(padding=(1, 0, 0, 0), value=7.5)");
  expect_values(cp(x), {1, 1, 2, 3}, {7.5, 1, 2, 7.5, 3, 4});
  nn::ZeroPad2d zp({0, 0, 1, 0});
  expect_values(zp(x), {1, 1, 3, 2}, {0, 0, 1, 2, 3, 4});
  nn::ReplicationPad2d rep({1, 0, 0, 0});
  expect_values(rep(x), {1, 1, 2, 3}, {1, 1, 2, 3, 3, 4});
}

}  // namespace
}  // namespace kiln
