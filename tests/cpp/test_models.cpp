// The model zoo: parameter counts against the published torchvision figures, torchvision's
// state_dict names and shapes, forward shapes, options and errors. Values against PyTorch on
// the same weights are in tests/python/test_models.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kiln/kiln.h"
#include "kiln/models/models.h"
#include "test_util.h"

namespace {

using namespace kiln;

int64_t count_parameters(nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

Shape shape_of(const StateDict& sd, const std::string& key) {
  for (const auto& [name, t] : sd)
    if (name == key) return t.shape();
  ADD_FAILURE() << "no state_dict entry " << key;
  return {};
}

bool has_key(const StateDict& sd, const std::string& key) {
  for (const auto& [name, t] : sd)
    if (name == key) return true;
  return false;
}

TEST(Models, LeNet5) {
  auto net = std::make_shared<models::LeNet5>();
  // conv1 6*25+6, conv2 16*6*25+16, fc1 400*120+120, fc2 120*84+84, fc3 84*10+10.
  EXPECT_EQ(count_parameters(*net), 156 + 2416 + 48120 + 10164 + 850);
  StateDict sd = net->state_dict();
  EXPECT_EQ(sd.size(), 10u);
  EXPECT_EQ(shape_of(sd, "conv1.weight"), (Shape{6, 1, 5, 5}));
  EXPECT_EQ(shape_of(sd, "conv2.weight"), (Shape{16, 6, 5, 5}));
  EXPECT_EQ(shape_of(sd, "fc1.weight"), (Shape{120, 400}));
  EXPECT_EQ(shape_of(sd, "fc3.bias"), (Shape{10}));
  EXPECT_EQ((*net)(randn({3, 1, 28, 28})).shape(), (Shape{3, 10}));
  auto three = std::make_shared<models::LeNet5>(7, 3);
  EXPECT_EQ((*three)(randn({2, 3, 28, 28})).shape(), (Shape{2, 7}));
}

// Building a ResNet draws its 11-26 M initial weights (about 1.5 s for ResNet-18 here), and
// ctest runs every case in its own process: each case below builds each network once.
TEST(Models, ResNet18) {
  auto r18 = models::resnet18();
  EXPECT_EQ(count_parameters(*r18), 11689512);  // torchvision's figure
  StateDict sd = r18->state_dict();
  // 62 parameters + 20 BatchNorms x 3 buffers.
  EXPECT_EQ(sd.size(), 122u);
  EXPECT_EQ(sd.begin()->first, "conv1.weight");
  EXPECT_EQ(shape_of(sd, "conv1.weight"), (Shape{64, 3, 7, 7}));
  EXPECT_EQ(shape_of(sd, "layer1.0.conv1.weight"), (Shape{64, 64, 3, 3}));
  EXPECT_FALSE(has_key(sd, "layer1.0.downsample.0.weight"));
  EXPECT_EQ(shape_of(sd, "layer2.0.conv1.weight"), (Shape{128, 64, 3, 3}));
  EXPECT_EQ(shape_of(sd, "layer2.0.downsample.0.weight"), (Shape{128, 64, 1, 1}));
  EXPECT_EQ(shape_of(sd, "layer2.0.downsample.1.running_var"), (Shape{128}));
  EXPECT_EQ(shape_of(sd, "layer4.1.bn2.num_batches_tracked"), (Shape{}));
  EXPECT_EQ(shape_of(sd, "fc.weight"), (Shape{1000, 512}));
  EXPECT_FALSE(has_key(sd, "conv1.bias"));  // bias=False, as torchvision

  const std::string repr = r18->repr();
  EXPECT_EQ(repr.rfind("ResNet(\n  (conv1): Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), "
                       "padding=(3, 3), bias=False)\n",
                       0),
            0u)
      << repr.substr(0, 200);
  EXPECT_NE(repr.find("(0): BasicBlock("), std::string::npos);

  // Without zero_init_residual, torchvision leaves BatchNorm weights at one.
  EXPECT_EQ(sum(r18->layer1->at<models::BasicBlock>(0)->bn2->weight).item(), 64.0);
  // kaiming_normal_(fan_out, relu): std = sqrt(2 / (out * k * k)); layer4's 3x3 convolutions
  // have 512 * 9 = 4608 fan-out and 2.4M weights, so the sample std is within 1 %.
  Tensor w = r18->layer4->at<models::BasicBlock>(1)->conv2->weight;
  const double expected = std::sqrt(2.0 / (512 * 9));
  EXPECT_NEAR(kiln::std(w).item(), expected, 0.01 * expected);
  EXPECT_NEAR(mean(w).item(), 0.0, 0.01 * expected);
}

TEST(Models, ResNet34) { EXPECT_EQ(count_parameters(*models::resnet34()), 21797672); }

TEST(Models, ResNet50) {
  auto r50 = models::resnet50({.num_classes = 5, .zero_init_residual = true});
  // torchvision's 25,557,032 has 1000 classes: 2049 * (1000 - 5) fewer in fc.
  EXPECT_EQ(count_parameters(*r50), 25557032 - 2049 * 995);
  StateDict sd = r50->state_dict();
  EXPECT_EQ(shape_of(sd, "layer1.0.conv1.weight"), (Shape{64, 64, 1, 1}));
  EXPECT_EQ(shape_of(sd, "layer1.0.conv3.weight"), (Shape{256, 64, 1, 1}));
  EXPECT_EQ(shape_of(sd, "layer1.0.downsample.0.weight"), (Shape{256, 64, 1, 1}));
  EXPECT_EQ(shape_of(sd, "layer3.0.conv2.weight"), (Shape{256, 256, 3, 3}));  // stride here
  EXPECT_EQ(shape_of(sd, "fc.weight"), (Shape{5, 2048}));
  EXPECT_EQ(sum(abs(r50->layer2->at<models::Bottleneck>(3)->bn3->weight)).item(), 0.0);
  EXPECT_EQ(sum(r50->layer2->at<models::Bottleneck>(3)->bn2->weight).item(), 128.0);
  r50->eval();
  EXPECT_EQ((*r50)(randn({1, 3, 64, 64})).shape(), (Shape{1, 5}));
}

TEST(Models, ResNet18CifarZeroInitResidual) {
  auto net = models::resnet(
      18, {.num_classes = 10, .stem = models::resnet_stem("cifar"), .zero_init_residual = true});
  EXPECT_EQ(count_parameters(*net), 11173962);  // the usual CIFAR ResNet-18 figure
  EXPECT_EQ(net->conv1->kernel_size(), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(net->maxpool->name(), "Identity");
  Tensor y = (*net)(randn({2, 3, 32, 32}));
  EXPECT_EQ(y.shape(), (Shape{2, 10}));
  EXPECT_EQ(sum(isfinite(y)).item(), 20.0);

  auto block = net->layer1->at<models::BasicBlock>(0);
  EXPECT_EQ(sum(abs(block->bn2->weight)).item(), 0.0);
  EXPECT_EQ(sum(abs(net->layer4->at<models::BasicBlock>(1)->bn2->weight)).item(), 0.0);
  EXPECT_GT(sum(abs(block->bn1->weight)).item(), 0.0);
  // With the residual branch zeroed (bias 0 too), a block with an identity shortcut is relu.
  block->eval();
  Tensor x = randn({2, 64, 5, 5});
  kiln::testing::expect_close((*block)(x), relu(x), 0, 0, "block == relu");
}

TEST(Models, VGG) {
  models::VGGOptions o{.config = {8, models::kPool, 16, models::kPool},
                       .batch_norm = true,
                       .num_classes = 10,
                       .pool_size = 1,
                       .hidden = 32};
  auto net = std::make_shared<models::VGG>(o);
  // conv 3->8 (216 + 8), BN 8 (16), conv 8->16 (1152 + 16), BN 16 (32), Linear 16->32 (544),
  // 32->32 (1056), 32->10 (330).
  EXPECT_EQ(count_parameters(*net), 224 + 16 + 1168 + 32 + 544 + 1056 + 330);
  StateDict sd = net->state_dict();
  EXPECT_EQ(shape_of(sd, "features.0.weight"), (Shape{8, 3, 3, 3}));
  EXPECT_EQ(shape_of(sd, "features.1.running_mean"), (Shape{8}));
  EXPECT_EQ(shape_of(sd, "features.4.weight"), (Shape{16, 8, 3, 3}));
  EXPECT_EQ(shape_of(sd, "classifier.0.weight"), (Shape{32, 16}));
  EXPECT_EQ(shape_of(sd, "classifier.6.weight"), (Shape{10, 32}));
  EXPECT_EQ(sum(net->classifier->at<nn::Linear>(0)->bias).item(), 0.0);
  EXPECT_EQ((*net)(randn({2, 3, 16, 16})).shape(), (Shape{2, 10}));
  // torchvision's configuration D has 13 convolutions and 5 pools.
  auto d = models::vgg_config("vgg16");
  EXPECT_EQ(std::count(d.begin(), d.end(), models::kPool), 5);
  EXPECT_EQ(d.size(), 18u);
  EXPECT_THROW_MSG(models::vgg_config("vgg99"), ValueError, "vgg99", "vgg11");
}

TEST(Models, UNet) {
  auto net = std::make_shared<models::UNet>(models::UNetOptions{.base_channels = 4});
  StateDict sd = net->state_dict();
  EXPECT_EQ(shape_of(sd, "inc.0.weight"), (Shape{4, 3, 3, 3}));
  EXPECT_FALSE(has_key(sd, "inc.0.bias"));  // BatchNorm follows
  EXPECT_EQ(shape_of(sd, "down3.1.3.weight"), (Shape{32, 32, 3, 3}));
  EXPECT_EQ(shape_of(sd, "up1.weight"), (Shape{32, 16, 2, 2}));  // [in, out, k, k]
  EXPECT_EQ(shape_of(sd, "dec1.0.weight"), (Shape{16, 32, 3, 3}));
  EXPECT_EQ(shape_of(sd, "dec3.3.weight"), (Shape{4, 4, 3, 3}));
  EXPECT_EQ(shape_of(sd, "outc.weight"), (Shape{2, 4, 1, 1}));
  EXPECT_EQ((*net)(randn({2, 3, 16, 24})).shape(), (Shape{2, 2, 16, 24}));
  EXPECT_THROW_MSG((*net)(randn({1, 3, 12, 16})), ValueError, "UNet", "multiples of 8",
                   "[1, 3, 12, 16]");

  auto bil = std::make_shared<models::UNet>(models::UNetOptions{.in_channels = 1,
                                                                .num_classes = 3,
                                                                .base_channels = 4,
                                                                .depth = 2,
                                                                .bilinear = true,
                                                                .batch_norm = false});
  StateDict sdb = bil->state_dict();
  EXPECT_EQ(shape_of(sdb, "inc.0.bias"), (Shape{4}));
  EXPECT_EQ(shape_of(sdb, "up1.1.weight"), (Shape{8, 16, 1, 1}));
  EXPECT_EQ((*bil)(randn({1, 1, 8, 8})).shape(), (Shape{1, 3, 8, 8}));
}

TEST(Models, Errors) {
  EXPECT_THROW_MSG(models::resnet(101), ValueError, "resnet", "101", "18, 34, 50");
  EXPECT_THROW_MSG(models::resnet_stem("tiny"), ValueError, "stem", "tiny", "imagenet, cifar");
  EXPECT_THROW_MSG(models::ResNet(models::ResNetBlock::Basic, {2, 2}), ValueError, "ResNet",
                   "4 layers");
  EXPECT_THROW_MSG(models::UNet({.depth = 0}), ValueError, "UNet", "positive");
}

}  // namespace
