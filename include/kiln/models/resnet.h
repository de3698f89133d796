#pragma once
// ResNet (He et al. 2015) as torchvision builds it (v1.5: the stride of a Bottleneck is in its
// 3x3 convolution), with torchvision's module and parameter names: conv1, bn1, relu, maxpool,
// layer1..layer4 (blocks "0", "1", ...; each conv1, bn1, conv2, bn2[, conv3, bn3] and, where the
// shape changes, downsample.0 (1x1 convolution) / downsample.1 (BatchNorm2d)), avgpool, fc. A
// torchvision state_dict loads as is.
//
// Stems: ImageNet = 7x7 convolution stride 2 padding 3 + 3x3 max pool stride 2 padding 1
// (224x224 inputs -> 7x7 before the pool); Cifar = 3x3 convolution stride 1 padding 1 and no
// max pool (maxpool is an Identity, so the names stay), the usual form for 32x32 inputs.
// Weights initialised as torchvision's: convolutions kaiming_normal_(fan_out, relu), BatchNorm
// 1 / 0, fc the Linear default; zero_init_residual zeroes the last BatchNorm weight of each
// block, so every residual branch starts as the identity.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/nn/activation.h"
#include "kiln/nn/container.h"
#include "kiln/nn/convolution.h"
#include "kiln/nn/linear.h"
#include "kiln/nn/normalization.h"
#include "kiln/nn/pooling.h"
#include "kiln/nn/receptive_field.h"

namespace kiln::models {

// Two 3x3 convolutions (the first with the block's stride); expansion 1.
class BasicBlock : public nn::Module, public nn::FieldTraced {
 public:
  static constexpr int64_t kExpansion = 1;
  // downsample: the shortcut's projection, or nullptr for the identity.
  BasicBlock(int64_t inplanes, int64_t planes, int64_t stride = 1,
             std::shared_ptr<nn::Sequential> downsample = nullptr);
  Tensor forward(const Tensor& x) override;
  Tensor trace_field(nn::FieldTracer& tracer, const Tensor& x) override;

  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Sequential> downsample;  // nullptr: identity shortcut

 private:
  Tensor run(const Tensor& x, nn::FieldTracer* tracer);
};

// 1x1 (reduce to planes), 3x3 (the block's stride), 1x1 (expand to 4 * planes).
class Bottleneck : public nn::Module, public nn::FieldTraced {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride = 1,
             std::shared_ptr<nn::Sequential> downsample = nullptr);
  Tensor forward(const Tensor& x) override;
  Tensor trace_field(nn::FieldTracer& tracer, const Tensor& x) override;

  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Sequential> downsample;

 private:
  Tensor run(const Tensor& x, nn::FieldTracer* tracer);
};

enum class ResNetStem { ImageNet, Cifar };
// "imagenet" or "cifar"; kiln::ValueError otherwise.
ResNetStem resnet_stem(const std::string& name);

struct ResNetOptions {
  int64_t num_classes = 1000;
  int64_t in_channels = 3;
  ResNetStem stem = ResNetStem::ImageNet;
  bool zero_init_residual = false;
};

enum class ResNetBlock { Basic, Bottleneck };

class ResNet : public nn::Module, public nn::FieldTraced {
 public:
  // blocks: the number of blocks of layer1..layer4 ({2, 2, 2, 2} for ResNet-18).
  ResNet(ResNetBlock block, std::vector<int64_t> blocks, const ResNetOptions& options = {});
  Tensor forward(const Tensor& x) override;
  Tensor trace_field(nn::FieldTracer& tracer, const Tensor& x) override;

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Module> maxpool;  // MaxPool2d(3, 2, 1), or Identity for the CIFAR stem
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Linear> fc;

 private:
  std::shared_ptr<nn::Sequential> make_layer(ResNetBlock block, int64_t planes, int64_t blocks,
                                             int64_t stride);
  Tensor run(const Tensor& x, nn::FieldTracer* tracer);
  int64_t inplanes_ = 64;
};

std::shared_ptr<ResNet> resnet18(const ResNetOptions& options = {});  // BasicBlock {2, 2, 2, 2}
std::shared_ptr<ResNet> resnet34(const ResNetOptions& options = {});  // BasicBlock {3, 4, 6, 3}
std::shared_ptr<ResNet> resnet50(const ResNetOptions& options = {});  // Bottleneck {3, 4, 6, 3}
// depth 18, 34 or 50; kiln::ValueError otherwise.
std::shared_ptr<ResNet> resnet(int64_t depth, const ResNetOptions& options = {});

}  // namespace kiln::models
