// nn::receptive_field on networks whose answers are worked out by hand below. Conventions (see
// kiln/nn/receptive_field.h): input pixel i sits at i; per layer with kernel k, stride s,
// padding p, dilation d and k_eff = d (k - 1) + 1:
//   j' = j s,   r' = r + (k_eff - 1) j,   start' = start + ((k_eff - 1) / 2 - p) j.
#include <gtest/gtest.h>

#include <sstream>

#include "kiln/kiln.h"
#include "kiln/models/models.h"
#include "kiln/nn/receptive_field.h"
#include "test_util.h"

namespace {

using namespace kiln;
using nn::LayerField;
using nn::Sequential;

// Field, jump and start of `l`, the same in every spatial dim.
void expect_row(const LayerField& l, const Shape& shape, double r, double j, double start) {
  SCOPED_TRACE(l.name);
  EXPECT_EQ(l.output_shape, shape);
  for (size_t i = 0; i < l.receptive_field.size(); ++i) {
    EXPECT_DOUBLE_EQ(l.receptive_field[i], r) << "dim " << i;
    EXPECT_DOUBLE_EQ(l.jump[i], j) << "dim " << i;
    EXPECT_DOUBLE_EQ(l.start[i], start) << "dim " << i;
  }
}

std::shared_ptr<nn::Conv2d> conv(int64_t k, nn::Conv2dOptions o = {}) {
  return std::make_shared<nn::Conv2d>(1, 1, k, o);
}

TEST(ReceptiveField, TwoConvolutions) {
  // 3x3 then 3x3, no padding: r = 1 + 2 = 3, then 3 + 2 = 5; the first output's field is
  // pixels 0..2 (centre 1), then 0..4 (centre 2). Sizes 9 -> 7 -> 5.
  auto net = std::make_shared<Sequential>(conv(3), conv(3));
  auto rf = nn::receptive_field(*net, {1, 1, 9, 9});
  ASSERT_EQ(rf.layers.size(), 3u);
  expect_row(rf.layers[0], {1, 1, 9, 9}, 1, 1, 0);
  expect_row(rf.at("0"), {1, 1, 7, 7}, 3, 1, 1);
  expect_row(rf.at("1"), {1, 1, 5, 5}, 5, 1, 2);
  EXPECT_EQ(rf.layers[1].type, "Conv2d");
  // The table, exactly (tests/python/test_receptive_field.py expects the same text).
  EXPECT_EQ(rf.to_string(),
            "layer  type    output shape  receptive field  jump  start\n"
            "input  -       [1, 1, 9, 9]  1x1              1x1   0x0\n"
            "0      Conv2d  [1, 1, 7, 7]  3x3              1x1   1x1\n"
            "1      Conv2d  [1, 1, 5, 5]  5x5              1x1   2x2\n");
  std::ostringstream os;
  os << rf;
  EXPECT_EQ(os.str(), rf.to_string());
}

TEST(ReceptiveField, StridedThenPlain) {
  // conv 3 stride 2: r 3, j 2, start 1 (pixels 0..2); size (11 - 3) / 2 + 1 = 5.
  // conv 3: r = 3 + 2 * 2 = 7 (pixels 0..6), j 2, start = 1 + 1 * 2 = 3; size 3.
  auto net = std::make_shared<Sequential>(conv(3, {.stride = 2}), conv(3));
  auto rf = nn::receptive_field(*net, {1, 1, 11, 11});
  expect_row(rf.at("0"), {1, 1, 5, 5}, 3, 2, 1);
  expect_row(rf.at("1"), {1, 1, 3, 3}, 7, 2, 3);
}

TEST(ReceptiveField, DilatedAndPadded) {
  // conv 3, dilation 2, padding 2: k_eff 5, r 5, start 0 + (2 - 2) = 0; size stays 16.
  // conv 3, dilation 4, padding 4: k_eff 9, r = 5 + 8 = 13, start 0.
  // conv 4, padding "same" (1 before, 2 after): k_eff 4, r = 13 + 3 = 16, start = 0 + (1.5 - 1)
  // = 0.5 (an even kernel centres between pixels).
  auto net = std::make_shared<Sequential>(conv(3, {.padding = 2, .dilation = 2}),
                                          conv(3, {.padding = 4, .dilation = 4}),
                                          conv(4, {.padding = "same"}));
  auto rf = nn::receptive_field(*net, {1, 1, 16, 16});
  expect_row(rf.at("0"), {1, 1, 16, 16}, 5, 1, 0);
  expect_row(rf.at("1"), {1, 1, 16, 16}, 13, 1, 0);
  expect_row(rf.at("2"), {1, 1, 16, 16}, 16, 1, 0.5);
}

TEST(ReceptiveField, Pooling) {
  // conv 3 p1:           r 3,             j 1, start 0,                  size 16
  // ReLU:                unchanged
  // max pool 2:          r = 3 + 1 = 4,   j 2, start = 0 + 0.5 = 0.5,    size 8
  // conv 3 p1:           r = 4 + 2*2 = 8, j 2, start 0.5,                size 8
  // avg pool 2:          r = 8 + 1*2 = 10, j 4, start = 0.5 + 0.5*2 = 1.5, size 4
  // max pool 3, stride 1, padding 1, dilation 2 (k_eff 5): r = 10 + 4*4 = 26, j 4,
  //                      start = 1.5 + (2 - 1)*4 = 5.5, size 4 + 2 - 5 + 1 = 2
  auto net = std::make_shared<Sequential>(
      conv(3, {.padding = 1}), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(nn::Size2{2, 2}), conv(3, {.padding = 1}),
      std::make_shared<nn::AvgPool2d>(nn::Size2{2, 2}),
      std::make_shared<nn::MaxPool2d>(nn::Size2{3, 3}, nn::Size2{1, 1}, nn::Size2{1, 1},
                                      nn::Size2{2, 2}));
  auto rf = nn::receptive_field(*net, {1, 1, 16, 16});
  expect_row(rf.at("0"), {1, 1, 16, 16}, 3, 1, 0);
  expect_row(rf.at("1"), {1, 1, 16, 16}, 3, 1, 0);
  expect_row(rf.at("2"), {1, 1, 8, 8}, 4, 2, 0.5);
  expect_row(rf.at("3"), {1, 1, 8, 8}, 8, 2, 0.5);
  expect_row(rf.at("4"), {1, 1, 4, 4}, 10, 4, 1.5);
  expect_row(rf.at("5"), {1, 1, 2, 2}, 26, 4, 5.5);
  EXPECT_EQ(rf.at("2").type, "MaxPool2d");
}

TEST(ReceptiveField, OneAndThreeDimensions) {
  // Conv1d 5, stride 2, padding 2 on 20: r 5, j 2, start 0 + (2 - 2) = 0, size 10;
  // MaxPool1d 2: r = 5 + 2 = 7, j 4, start = 0 + 0.5 * 2 = 1, size 5.
  auto net1 = std::make_shared<Sequential>(
      std::make_shared<nn::Conv1d>(1, 2, 5, nn::Conv1dOptions{.stride = 2, .padding = 2}),
      std::make_shared<nn::MaxPool1d>(2));
  auto rf1 = nn::receptive_field(*net1, {1, 1, 20});
  expect_row(rf1.at("0"), {1, 2, 10}, 5, 2, 0);
  expect_row(rf1.at("1"), {1, 2, 5}, 7, 4, 1);
  // Conv3d kernel (3, 3, 1): fields 3x3x1, starts 1x1x0, sizes 4x4x6.
  auto c3 = std::make_shared<nn::Conv3d>(1, 1, nn::ExpandingSize<3>(3, 3, 1));
  auto rf3 = nn::receptive_field(*c3, {1, 1, 6, 6, 6});
  ASSERT_EQ(rf3.layers.size(), 2u);
  const LayerField& l = rf3.layers[1];
  EXPECT_EQ(l.name, "model");
  EXPECT_EQ(l.output_shape, (Shape{1, 1, 4, 4, 6}));
  EXPECT_EQ(l.receptive_field, (std::vector<double>{3, 3, 1}));
  EXPECT_EQ(l.start, (std::vector<double>{1, 1, 0}));
  EXPECT_EQ(l.jump, (std::vector<double>{1, 1, 1}));
}

TEST(ReceptiveField, AdaptivePools) {
  // 6 -> 3 is a pool with kernel = stride = 2: r 2, j 2, start 0.5.
  auto even = std::make_shared<nn::AdaptiveAvgPool2d>(nn::Size2{3, 3});
  expect_row(nn::receptive_field(*even, {1, 1, 6, 6}).layers[1], {1, 1, 3, 3}, 2, 2, 0.5);
  // 5 -> 3: windows [0, 2), [1, 4), [3, 5); the longest has 3 elements (r 3), the first 2
  // (start 0.5); jump 5 / 3.
  auto uneven = std::make_shared<nn::AdaptiveMaxPool2d>(nn::Size2{3, 3});
  expect_row(nn::receptive_field(*uneven, {1, 1, 5, 5}).layers[1], {1, 1, 3, 3}, 3, 5.0 / 3, 0.5);
}

TEST(ReceptiveField, PaddingAndResampling) {
  // ZeroPad2d 1 on 8:      start = 0 + (0 - 1) = -1, r 1, size 10
  // conv 3:                start -1 + 1 = 0, r 3, size 8
  // PixelUnshuffle 2:      kernel = stride = 2: r 4, j 2, start 0.5, size 4
  // Upsample x2 nearest:   output 0 at 0.5 / 2 - 0.5 = -0.25 inputs: start = 0.5 - 0.5 = 0,
  //                        j 1, r 4 (one input per output), size 8
  // PixelShuffle 2:        the same geometry: start = 0 - 0.25 = -0.25, j 0.5, r 4, size 16
  // Upsample to 31, align_corners, bilinear: output o at o * 15 / 30: start -0.25, j 0.25,
  //                        r = 4 + 0.5 (two inputs mixed), size 31
  auto net = std::make_shared<Sequential>(
      std::make_shared<nn::ZeroPad2d>(std::vector<int64_t>{1, 1, 1, 1}), conv(3),
      std::make_shared<nn::PixelUnshuffle>(2),
      std::make_shared<nn::Upsample>(std::vector<int64_t>{}, std::vector<double>{2.0}),
      std::make_shared<nn::PixelShuffle>(2),
      std::make_shared<nn::Upsample>(std::vector<int64_t>{31, 31}, std::vector<double>{},
                                     "bilinear", true));
  auto rf = nn::receptive_field(*net, {1, 1, 8, 8});
  expect_row(rf.at("0"), {1, 1, 10, 10}, 1, 1, -1);
  expect_row(rf.at("1"), {1, 1, 8, 8}, 3, 1, 0);
  expect_row(rf.at("2"), {1, 4, 4, 4}, 4, 2, 0.5);
  expect_row(rf.at("3"), {1, 4, 8, 8}, 4, 1, 0);
  expect_row(rf.at("4"), {1, 1, 16, 16}, 4, 0.5, -0.25);
  expect_row(rf.at("5"), {1, 1, 31, 31}, 4.5, 0.25, -0.25);
  // Fractions print as %.6g; the last line of the table:
  const std::string table = rf.to_string();
  EXPECT_EQ(table.substr(table.rfind('\n', table.size() - 2) + 1),
            "5      Upsample        [1, 1, 31, 31]  4.5x4.5          0.25x0.25  -0.25x-0.25\n");
}

TEST(ReceptiveField, FlattenFoldsTheWholeInput) {
  // conv 3 on 6: r 3, j 1, start 1, size 4; Flatten folds the 4 positions:
  // r = 3 + 3 * 1 = 6, start = 1 + 1.5 = 2.5, j = 4; Linear keeps that.
  auto net = std::make_shared<Sequential>(conv(3), std::make_shared<nn::Flatten>(),
                                          std::make_shared<nn::Linear>(16, 2));
  auto rf = nn::receptive_field(*net, {1, 1, 6, 6});
  expect_row(rf.at("1"), {1, 16}, 6, 4, 2.5);
  expect_row(rf.at("2"), {1, 2}, 6, 4, 2.5);
}

TEST(ReceptiveField, LeNet5) {
  // conv1 5 p2:  r 5,              j 1, start 0,                  28
  // pool 2:      r = 5 + 1 = 6,    j 2, start 0.5,                14
  // conv2 5:     r = 6 + 4*2 = 14, j 2, start = 0.5 + 2*2 = 4.5,  10
  // pool 2:      r = 14 + 2 = 16,  j 4, start = 4.5 + 0.5*2 = 5.5, 5
  // fc1 (after flatten): folds 5 positions: r = 16 + 4*4 = 32 (the 28 pixels + 2 padding on
  // each side), start = 5.5 + 2*4 = 13.5 (the image centre), j = 20.
  auto net = std::make_shared<models::LeNet5>();
  auto rf = nn::receptive_field(*net, {1, 1, 28, 28});
  expect_row(rf.at("conv1"), {1, 6, 28, 28}, 5, 1, 0);
  expect_row(rf.at("pool"), {1, 6, 14, 14}, 6, 2, 0.5);
  expect_row(rf.at("conv2"), {1, 16, 10, 10}, 14, 2, 4.5);
  expect_row(rf.at("pool", true), {1, 16, 5, 5}, 16, 4, 5.5);
  expect_row(rf.at("fc1"), {1, 120}, 32, 20, 13.5);
  expect_row(rf.layers.back(), {1, 10}, 32, 20, 13.5);
  EXPECT_EQ(rf.layers.size(), 12u);  // input + 11 layer calls (relu and pool rows repeat)
}

TEST(ReceptiveField, BasicBlockStack) {
  // Block 0 (4 -> 4, stride 1, identity shortcut): conv1 3 p1: r 3; conv2: r 5; j 1, start 0.
  // Block 1 (4 -> 8, stride 2, projection shortcut): conv1 3 s2 p1: r = 5 + 2 = 7, j 2,
  // start 0 + (1 - 1) = 0, size 4; conv2: r = 7 + 2*2 = 11. The shortcut (1x1 stride 2: a
  // field of 5 around the same centre) lies inside the main path's and gets no row.
  auto ds = std::make_shared<Sequential>(
      std::make_shared<nn::Conv2d>(4, 8, 1, nn::Conv2dOptions{.stride = 2, .bias = false}),
      std::make_shared<nn::BatchNorm2d>(8));
  auto net = std::make_shared<Sequential>(std::make_shared<models::BasicBlock>(4, 4),
                                          std::make_shared<models::BasicBlock>(4, 8, 2, ds));
  auto rf = nn::receptive_field(*net, {2, 4, 8, 8});
  expect_row(rf.at("0.conv1"), {2, 4, 8, 8}, 3, 1, 0);
  expect_row(rf.at("0.conv2"), {2, 4, 8, 8}, 5, 1, 0);
  expect_row(rf.at("1.conv1"), {2, 8, 4, 4}, 7, 2, 0);
  expect_row(rf.at("1.conv2"), {2, 8, 4, 4}, 11, 2, 0);
  expect_row(rf.layers.back(), {2, 8, 4, 4}, 11, 2, 0);
  EXPECT_EQ(rf.layers.back().name, "1.relu");
  for (const auto& l : rf.layers) EXPECT_EQ(l.name.find("downsample"), std::string::npos);
  // Rows per block: conv1 bn1 relu conv2 bn2 relu.
  EXPECT_EQ(rf.layers.size(), 1u + 2 * 6);
}

TEST(ReceptiveField, ResNet18CifarStem) {
  // conv1 3 p1: r 3. layer1: 4 convs 3x3 stride 1: r = 3 + 4*2 = 11, j 1.
  // layer2: conv s2: 11 + 2 = 13 (j 2), then 3 convs: 13 + 3*4 = 25.
  // layer3: 25 + 2*2 = 29 (j 4), + 3*8 = 53.  layer4: 53 + 2*4 = 61 (j 8), + 3*16 = 109.
  // Every 3x3 has padding 1: start stays 0. avgpool (4 -> 1): r = 109 + 3*8 = 133,
  // start = 1.5 * 8 = 12, j 32.
  auto net = models::resnet18({.num_classes = 10, .stem = models::ResNetStem::Cifar});
  auto rf = nn::receptive_field(*net, {1, 3, 32, 32});
  expect_row(rf.at("maxpool"), {1, 64, 32, 32}, 3, 1, 0);
  EXPECT_EQ(rf.at("maxpool").type, "Identity");
  expect_row(rf.at("layer1.1.relu", true), {1, 64, 32, 32}, 11, 1, 0);
  expect_row(rf.at("layer2.1.relu", true), {1, 128, 16, 16}, 25, 2, 0);
  expect_row(rf.at("layer3.1.relu", true), {1, 256, 8, 8}, 53, 4, 0);
  expect_row(rf.at("layer4.1.relu", true), {1, 512, 4, 4}, 109, 8, 0);
  expect_row(rf.at("avgpool"), {1, 512, 1, 1}, 133, 32, 12);
  expect_row(rf.at("fc"), {1, 10}, 133, 32, 12);
}

TEST(ReceptiveField, ResNet18ImageNetStemIs435) {
  // conv1 7 s2 p3: r 7, j 2, start 0; maxpool 3 s2 p1: r = 7 + 2*2 = 11, j 4, start 0; then
  // as above with jumps 4, 8, 16, 32: 11 + 4*2*4 = 43, 43 + 2*4 + 3*16 = 99,
  // 99 + 2*8 + 3*32 = 211, 211 + 2*16 + 3*64 = 435 (the published figure), j 32.
  // The field does not depend on the input size; 64x64 keeps the test quick (224 -> 7x7).
  auto net = models::resnet18();
  auto rf = nn::receptive_field(*net, {1, 3, 64, 64});
  expect_row(rf.at("conv1"), {1, 64, 32, 32}, 7, 2, 0);
  expect_row(rf.at("maxpool"), {1, 64, 16, 16}, 11, 4, 0);
  expect_row(rf.at("layer1.1.relu", true), {1, 64, 16, 16}, 43, 4, 0);
  expect_row(rf.at("layer2.1.relu", true), {1, 128, 8, 8}, 99, 8, 0);
  expect_row(rf.at("layer3.1.relu", true), {1, 256, 4, 4}, 211, 16, 0);
  expect_row(rf.at("layer4.1.relu", true), {1, 512, 2, 2}, 435, 32, 0);
}

TEST(ReceptiveField, UNetThroughTransposedConvolution) {
  // depth 1, base 2, on 8x8. inc: two 3x3 p1: r 3, 5 (j 1, start 0).
  // down1.0 max pool 2: r 6, j 2, start 0.5; down1.1: two 3x3 p1: r = 6 + 4 = 10, 14.
  // up1 ConvTranspose 2 stride 2: j = 2 / 2 = 1; output 0 at input coordinate
  // (p - (k_eff - 1) / 2) / s = -0.25, so start = 0.5 - 0.25 * 2 = 0; each output reads one
  // input (floor(1 / 2) = 0): r 14. dec1: two 3x3 p1 with j 1: r 16, 18. outc 1x1: 18.
  auto net = std::make_shared<models::UNet>(
      models::UNetOptions{.in_channels = 1, .num_classes = 2, .base_channels = 2, .depth = 1});
  auto rf = nn::receptive_field(*net, {1, 1, 8, 8});
  expect_row(rf.at("inc.3"), {1, 2, 8, 8}, 5, 1, 0);
  expect_row(rf.at("down1.0"), {1, 2, 4, 4}, 6, 2, 0.5);
  expect_row(rf.at("down1.1.3"), {1, 4, 4, 4}, 14, 2, 0.5);
  expect_row(rf.at("up1"), {1, 2, 8, 8}, 14, 1, 0);
  EXPECT_EQ(rf.at("up1").type, "ConvTranspose2d");
  expect_row(rf.at("dec1.0"), {1, 2, 8, 8}, 16, 1, 0);
  expect_row(rf.at("dec1.3"), {1, 2, 8, 8}, 18, 1, 0);
  expect_row(rf.at("outc"), {1, 2, 8, 8}, 18, 1, 0);
  // Bilinear up-sampling: Upsample x2 places output 0 at 0.5 / 2 - 0.5 = -0.25 (start
  // 0.5 - 0.25 * 2 = 0) and mixes two inputs: r = 14 + 2 = 16; the 1x1 keeps it; dec1: 18, 20.
  auto bil = std::make_shared<models::UNet>(models::UNetOptions{
      .in_channels = 1, .num_classes = 2, .base_channels = 2, .depth = 1, .bilinear = true});
  auto rfb = nn::receptive_field(*bil, {1, 1, 8, 8});
  expect_row(rfb.at("up1.0"), {1, 4, 8, 8}, 16, 1, 0);
  expect_row(rfb.at("up1.1"), {1, 2, 8, 8}, 16, 1, 0);
  expect_row(rfb.at("outc"), {1, 2, 8, 8}, 20, 1, 0);
}

TEST(ReceptiveField, RestoresTrainingModeAndLeavesStatistics) {
  auto net = std::make_shared<Sequential>(std::make_shared<nn::Conv2d>(1, 2, 3),
                                          std::make_shared<nn::BatchNorm2d>(2),
                                          std::make_shared<nn::Dropout>(0.5));
  net->train();
  net->at<nn::Dropout>(2)->eval();  // a mixed state must come back as it was
  nn::receptive_field(*net, {1, 1, 5, 5});
  EXPECT_TRUE(net->is_training());
  EXPECT_TRUE((*net)[1]->is_training());
  EXPECT_FALSE((*net)[2]->is_training());
  auto bn = net->at<nn::BatchNorm2d>(1);
  EXPECT_EQ(bn->num_batches_tracked.item(), 0.0);  // ran in eval mode: no update
  EXPECT_EQ(sum(bn->running_mean).item(), 0.0);
}

// A model whose forward the walk cannot know.
struct TwoBranch : nn::Module {
  std::shared_ptr<nn::Conv2d> a, b;
  TwoBranch() : Module("TwoBranch") {
    a = register_module("a", std::make_shared<nn::Conv2d>(1, 1, 3));
    b = register_module("b", std::make_shared<nn::Conv2d>(1, 1, 3));
  }
  Tensor forward(const Tensor& x) override { return (*a)(x) + (*b)(x); }
};

// A layer that crops: its geometry is not known.
struct Crop : nn::Module {
  Crop() : Module("Crop") {}
  Tensor forward(const Tensor& x) override { return narrow(narrow(x, 2, 0, 2), 3, 0, 2); }
};

TEST(ReceptiveField, Errors) {
  auto two = std::make_shared<TwoBranch>();
  EXPECT_THROW_MSG(nn::receptive_field(*two, {1, 1, 8, 8}), ValueError, "receptive_field",
                   "TwoBranch", "Sequential or implement nn::FieldTraced");
  auto crop = std::make_shared<Sequential>(conv(3), std::make_shared<Crop>());
  EXPECT_THROW_MSG(nn::receptive_field(*crop, {1, 1, 8, 8}), ValueError, "Crop '1'",
                   "from [6, 6] to [2, 2]", "geometry is not known");
  auto c = conv(3);
  EXPECT_THROW_MSG(nn::receptive_field(*c, {8, 8}), ValueError, "receptive_field",
                   "[N, C, *spatial]", "[8, 8]");
  EXPECT_THROW_MSG(nn::receptive_field(*c, {1, 1, 0, 8}), ValueError, "empty dimension");
  // The layer's own error comes through (too small an input).
  EXPECT_THROW_MSG(nn::receptive_field(*c, {1, 1, 2, 2}), ValueError, "conv2d");
}

}  // namespace
