#include "kiln/models/vgg.h"

#include "kiln/error.h"
#include "kiln/nn/activation.h"
#include "kiln/nn/convolution.h"
#include "kiln/nn/dropout.h"
#include "kiln/nn/init.h"
#include "kiln/nn/linear.h"
#include "kiln/nn/normalization.h"
#include "kiln/ops.h"

namespace kiln::models {

std::vector<int64_t> vgg_config(const std::string& name) {
  constexpr int64_t M = kPool;
  if (name == "vgg11") return {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  if (name == "vgg13") return {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  if (name == "vgg16")
    return {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
  if (name == "vgg19")
    return {64,  64,  M,   128, 128, M,   256, 256, 256, 256, M,
            512, 512, 512, 512, M,   512, 512, 512, 512, M};
  throw ValueError("vgg_config: unknown configuration '" + name +
                   "' (available: vgg11, vgg13, vgg16, vgg19)");
}

VGG::VGG(const VGGOptions& o) : Module("VGG") {
  KILN_CHECK_VALUE(!o.config.empty(), "VGG: the configuration is empty");
  KILN_CHECK_VALUE(o.pool_size > 0 && o.hidden > 0 && o.num_classes > 0 && o.in_channels > 0,
                   "VGG: pool_size, hidden, num_classes and in_channels must be positive");
  features = std::make_shared<nn::Sequential>();
  int64_t channels = o.in_channels;
  for (int64_t c : o.config) {
    if (c == kPool) {
      features->push_back(std::make_shared<nn::MaxPool2d>(nn::Size2{2, 2}, nn::Size2{2, 2}));
      continue;
    }
    KILN_CHECK_VALUE(c > 0, "VGG: configuration entries are channel counts or kPool, got ", c);
    auto conv = std::make_shared<nn::Conv2d>(channels, c, 3, nn::Conv2dOptions{.padding = 1});
    nn::init::kaiming_normal_(conv->weight, 0.0, "fan_out", "relu");
    nn::init::zeros_(conv->bias);
    features->push_back(conv);
    if (o.batch_norm) features->push_back(std::make_shared<nn::BatchNorm2d>(c));
    features->push_back(std::make_shared<nn::ReLU>());
    channels = c;
  }
  register_module("features", features);
  avgpool = register_module(
      "avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(nn::Size2{o.pool_size, o.pool_size}));
  auto linear = [](int64_t in, int64_t out) {
    auto l = std::make_shared<nn::Linear>(in, out);
    nn::init::normal_(l->weight, 0.0, 0.01);
    nn::init::zeros_(l->bias);
    return l;
  };
  classifier = register_module(
      "classifier", std::make_shared<nn::Sequential>(
                        linear(channels * o.pool_size * o.pool_size, o.hidden),
                        std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(o.dropout),
                        linear(o.hidden, o.hidden), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::Dropout>(o.dropout), linear(o.hidden, o.num_classes)));
}

Tensor VGG::run(const Tensor& x, nn::FieldTracer* t) {
  Tensor h = nn::FieldTracer::call(t, "features", *features, x);
  h = nn::FieldTracer::call(t, "avgpool", *avgpool, h);
  return nn::FieldTracer::call(t, "classifier", *classifier, flatten(h, 1));
}

Tensor VGG::forward(const Tensor& x) { return run(x, nullptr); }
Tensor VGG::trace_field(nn::FieldTracer& tracer, const Tensor& x) { return run(x, &tracer); }

}  // namespace kiln::models
