#pragma once
// VGG (Simonyan & Zisserman 2014) as torchvision builds it, with configurable blocks:
//   features   = for each entry of `config`: a number c adds Conv2d(prev, c, 3, padding 1)
//                [+ BatchNorm2d(c)] + ReLU; kPool adds MaxPool2d(2, 2);
//   avgpool    = AdaptiveAvgPool2d(pool_size)
//   classifier = Linear(last * pool_size^2, hidden), ReLU, Dropout(dropout),
//                Linear(hidden, hidden), ReLU, Dropout(dropout), Linear(hidden, num_classes)
// so state_dict names are torchvision's ("features.0.weight", "classifier.6.bias"). The
// defaults (pool 7, hidden 4096) are torchvision's ImageNet model; a CIFAR-sized net is e.g.
// {.config = vgg_config("vgg11"), .batch_norm = true, .num_classes = 10, .pool_size = 1,
// .hidden = 512}. Weights initialised as torchvision's: convolutions kaiming_normal_(fan_out,
// relu) with zero bias, BatchNorm 1 / 0, Linear N(0, 0.01) with zero bias.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/nn/container.h"
#include "kiln/nn/pooling.h"
#include "kiln/nn/receptive_field.h"

namespace kiln::models {

inline constexpr int64_t kPool = -1;  // 'M' in torchvision's configurations

// torchvision's configurations "vgg11" (A), "vgg13" (B), "vgg16" (D), "vgg19" (E).
std::vector<int64_t> vgg_config(const std::string& name);

struct VGGOptions {
  std::vector<int64_t> config = vgg_config("vgg11");
  bool batch_norm = false;
  int64_t num_classes = 1000;
  int64_t in_channels = 3;
  int64_t pool_size = 7;
  int64_t hidden = 4096;
  double dropout = 0.5;
};

class VGG : public nn::Module, public nn::FieldTraced {
 public:
  explicit VGG(const VGGOptions& options = {});
  Tensor forward(const Tensor& x) override;
  Tensor trace_field(nn::FieldTracer& tracer, const Tensor& x) override;

  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Sequential> classifier;

 private:
  Tensor run(const Tensor& x, nn::FieldTracer* tracer);
};

}  // namespace kiln::models
