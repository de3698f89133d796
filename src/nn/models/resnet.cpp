#include "kiln/models/resnet.h"

#include "kiln/error.h"
#include "kiln/nn/init.h"
#include "kiln/ops.h"

namespace kiln::models {

namespace {

using nn::FieldTracer;

std::shared_ptr<nn::Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride = 1) {
  return std::make_shared<nn::Conv2d>(
      in, out, 3, nn::Conv2dOptions{.stride = stride, .padding = 1, .bias = false});
}

std::shared_ptr<nn::Conv2d> conv1x1(int64_t in, int64_t out, int64_t stride = 1) {
  return std::make_shared<nn::Conv2d>(in, out, 1,
                                      nn::Conv2dOptions{.stride = stride, .bias = false});
}

// The shortcut beside the main path: run as usual, not traced (its field lies inside the main
// path's; see kiln/nn/receptive_field.h).
Tensor shortcut(const std::shared_ptr<nn::Sequential>& downsample, const Tensor& x) {
  return downsample ? (*downsample)(x) : x;
}

}  // namespace

// ---------------- blocks ----------------

BasicBlock::BasicBlock(int64_t inplanes, int64_t planes, int64_t stride,
                       std::shared_ptr<nn::Sequential> ds)
    : Module("BasicBlock") {
  // torchvision's registration order, hence its state_dict order.
  conv1 = register_module("conv1", conv3x3(inplanes, planes, stride));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  conv2 = register_module("conv2", conv3x3(planes, planes));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes));
  if (ds) downsample = register_module("downsample", std::move(ds));
}

Tensor BasicBlock::run(const Tensor& x, FieldTracer* t) {
  Tensor out = FieldTracer::call(t, "conv1", *conv1, x);
  out = FieldTracer::call(t, "bn1", *bn1, out);
  out = FieldTracer::call(t, "relu", *relu, out);
  out = FieldTracer::call(t, "conv2", *conv2, out);
  out = FieldTracer::call(t, "bn2", *bn2, out);
  return FieldTracer::call(t, "relu", *relu, out + shortcut(downsample, x));
}

Tensor BasicBlock::forward(const Tensor& x) { return run(x, nullptr); }
Tensor BasicBlock::trace_field(FieldTracer& tracer, const Tensor& x) { return run(x, &tracer); }

Bottleneck::Bottleneck(int64_t inplanes, int64_t planes, int64_t stride,
                       std::shared_ptr<nn::Sequential> ds)
    : Module("Bottleneck") {
  conv1 = register_module("conv1", conv1x1(inplanes, planes));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes));
  conv2 = register_module("conv2", conv3x3(planes, planes, stride));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes));
  conv3 = register_module("conv3", conv1x1(planes, planes * kExpansion));
  bn3 = register_module("bn3", std::make_shared<nn::BatchNorm2d>(planes * kExpansion));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  if (ds) downsample = register_module("downsample", std::move(ds));
}

Tensor Bottleneck::run(const Tensor& x, FieldTracer* t) {
  Tensor out = FieldTracer::call(t, "conv1", *conv1, x);
  out = FieldTracer::call(t, "bn1", *bn1, out);
  out = FieldTracer::call(t, "relu", *relu, out);
  out = FieldTracer::call(t, "conv2", *conv2, out);
  out = FieldTracer::call(t, "bn2", *bn2, out);
  out = FieldTracer::call(t, "relu", *relu, out);
  out = FieldTracer::call(t, "conv3", *conv3, out);
  out = FieldTracer::call(t, "bn3", *bn3, out);
  return FieldTracer::call(t, "relu", *relu, out + shortcut(downsample, x));
}

Tensor Bottleneck::forward(const Tensor& x) { return run(x, nullptr); }
Tensor Bottleneck::trace_field(FieldTracer& tracer, const Tensor& x) { return run(x, &tracer); }

// ---------------- the network ----------------

ResNetStem resnet_stem(const std::string& name) {
  if (name == "imagenet") return ResNetStem::ImageNet;
  if (name == "cifar") return ResNetStem::Cifar;
  throw ValueError("resnet: unknown stem '" + name + "' (available: imagenet, cifar)");
}

ResNet::ResNet(ResNetBlock block, std::vector<int64_t> blocks, const ResNetOptions& o)
    : Module("ResNet") {
  KILN_CHECK_VALUE(blocks.size() == 4, "ResNet: expected the block counts of 4 layers, got ",
                   blocks.size());
  KILN_CHECK_VALUE(o.num_classes > 0 && o.in_channels > 0,
                   "ResNet: num_classes and in_channels must be positive");
  if (o.stem == ResNetStem::ImageNet) {
    conv1 = register_module(
        "conv1",
        std::make_shared<nn::Conv2d>(o.in_channels, 64, 7,
                                     nn::Conv2dOptions{.stride = 2, .padding = 3, .bias = false}));
  } else {
    conv1 = register_module("conv1", conv3x3(o.in_channels, 64));
  }
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(64));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  if (o.stem == ResNetStem::ImageNet) {
    maxpool = register_module("maxpool", std::make_shared<nn::MaxPool2d>(
                                             nn::Size2{3, 3}, nn::Size2{2, 2}, nn::Size2{1, 1}));
  } else {
    maxpool = register_module("maxpool", std::make_shared<nn::Identity>());
  }
  layer1 = register_module("layer1", make_layer(block, 64, blocks[0], 1));
  layer2 = register_module("layer2", make_layer(block, 128, blocks[1], 2));
  layer3 = register_module("layer3", make_layer(block, 256, blocks[2], 2));
  layer4 = register_module("layer4", make_layer(block, 512, blocks[3], 2));
  avgpool = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(nn::Size2{1, 1}));
  fc = register_module("fc", std::make_shared<nn::Linear>(inplanes_, o.num_classes));

  apply([&](nn::Module& m) {
    if (auto* c = dynamic_cast<nn::Conv2d*>(&m))
      nn::init::kaiming_normal_(c->weight, 0.0, "fan_out", "relu");
    if (!o.zero_init_residual) return;
    if (auto* b = dynamic_cast<Bottleneck*>(&m)) nn::init::zeros_(b->bn3->weight);
    if (auto* b = dynamic_cast<BasicBlock*>(&m)) nn::init::zeros_(b->bn2->weight);
  });
}

std::shared_ptr<nn::Sequential> ResNet::make_layer(ResNetBlock block, int64_t planes,
                                                   int64_t blocks, int64_t stride) {
  KILN_CHECK_VALUE(blocks > 0, "ResNet: every layer needs at least one block, got ", blocks);
  const int64_t expansion =
      block == ResNetBlock::Basic ? BasicBlock::kExpansion : Bottleneck::kExpansion;
  auto make = [&](int64_t in, int64_t s, std::shared_ptr<nn::Sequential> ds) {
    return block == ResNetBlock::Basic
               ? std::shared_ptr<nn::Module>(std::make_shared<BasicBlock>(in, planes, s, ds))
               : std::shared_ptr<nn::Module>(std::make_shared<Bottleneck>(in, planes, s, ds));
  };
  std::shared_ptr<nn::Sequential> downsample;
  if (stride != 1 || inplanes_ != planes * expansion) {
    downsample =
        std::make_shared<nn::Sequential>(conv1x1(inplanes_, planes * expansion, stride),
                                         std::make_shared<nn::BatchNorm2d>(planes * expansion));
  }
  auto layer = std::make_shared<nn::Sequential>();
  layer->push_back(make(inplanes_, stride, downsample));
  inplanes_ = planes * expansion;
  for (int64_t i = 1; i < blocks; ++i) layer->push_back(make(inplanes_, 1, nullptr));
  return layer;
}

Tensor ResNet::run(const Tensor& x, FieldTracer* t) {
  Tensor h = FieldTracer::call(t, "conv1", *conv1, x);
  h = FieldTracer::call(t, "bn1", *bn1, h);
  h = FieldTracer::call(t, "relu", *relu, h);
  h = FieldTracer::call(t, "maxpool", *maxpool, h);
  h = FieldTracer::call(t, "layer1", *layer1, h);
  h = FieldTracer::call(t, "layer2", *layer2, h);
  h = FieldTracer::call(t, "layer3", *layer3, h);
  h = FieldTracer::call(t, "layer4", *layer4, h);
  h = FieldTracer::call(t, "avgpool", *avgpool, h);
  return FieldTracer::call(t, "fc", *fc, flatten(h, 1));
}

Tensor ResNet::forward(const Tensor& x) { return run(x, nullptr); }
Tensor ResNet::trace_field(FieldTracer& tracer, const Tensor& x) { return run(x, &tracer); }

std::shared_ptr<ResNet> resnet18(const ResNetOptions& o) {
  return std::make_shared<ResNet>(ResNetBlock::Basic, std::vector<int64_t>{2, 2, 2, 2}, o);
}
std::shared_ptr<ResNet> resnet34(const ResNetOptions& o) {
  return std::make_shared<ResNet>(ResNetBlock::Basic, std::vector<int64_t>{3, 4, 6, 3}, o);
}
std::shared_ptr<ResNet> resnet50(const ResNetOptions& o) {
  return std::make_shared<ResNet>(ResNetBlock::Bottleneck, std::vector<int64_t>{3, 4, 6, 3}, o);
}

std::shared_ptr<ResNet> resnet(int64_t depth, const ResNetOptions& o) {
  if (depth == 18) return resnet18(o);
  if (depth == 34) return resnet34(o);
  if (depth == 50) return resnet50(o);
  throw ValueError("resnet: unknown depth " + std::to_string(depth) + " (available: 18, 34, 50)");
}

}  // namespace kiln::models
