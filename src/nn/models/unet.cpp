#include "kiln/models/unet.h"

#include "kiln/error.h"
#include "kiln/nn/activation.h"
#include "kiln/nn/normalization.h"
#include "kiln/nn/pooling.h"
#include "kiln/nn/resample.h"
#include "kiln/ops.h"
#include "kiln/shape.h"

namespace kiln::models {

using nn::FieldTracer;

std::shared_ptr<nn::Sequential> double_conv(int64_t in_channels, int64_t out_channels,
                                            bool batch_norm) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t in : {in_channels, out_channels}) {
    // The convolution's bias would only shift what BatchNorm subtracts again.
    seq->push_back(std::make_shared<nn::Conv2d>(
        in, out_channels, 3, nn::Conv2dOptions{.padding = 1, .bias = !batch_norm}));
    if (batch_norm) seq->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
    seq->push_back(std::make_shared<nn::ReLU>());
  }
  return seq;
}

UNet::UNet(const UNetOptions& o) : Module("UNet"), options_(o) {
  KILN_CHECK_VALUE(o.depth >= 1 && o.base_channels > 0 && o.in_channels > 0 && o.num_classes > 0,
                   "UNet: depth, base_channels, in_channels and num_classes must be positive");
  inc = register_module("inc", double_conv(o.in_channels, o.base_channels, o.batch_norm));
  int64_t c = o.base_channels;
  for (int64_t i = 1; i <= o.depth; ++i, c *= 2) {
    downs.push_back(register_module(
        "down" + std::to_string(i),
        std::make_shared<nn::Sequential>(std::make_shared<nn::MaxPool2d>(nn::Size2{2, 2}),
                                         double_conv(c, 2 * c, o.batch_norm))));
  }
  for (int64_t i = 1; i <= o.depth; ++i, c /= 2) {
    std::shared_ptr<nn::Module> up;
    if (o.bilinear) {
      up = std::make_shared<nn::Sequential>(
          std::make_shared<nn::Upsample>(std::vector<int64_t>{}, std::vector<double>{2.0},
                                         "bilinear", false),
          std::make_shared<nn::Conv2d>(c, c / 2, 1));
    } else {
      up = std::make_shared<nn::ConvTranspose2d>(c, c / 2, 2,
                                                 nn::ConvTranspose2dOptions{.stride = 2});
    }
    ups.push_back(register_module("up" + std::to_string(i), up));
    decs.push_back(register_module("dec" + std::to_string(i), double_conv(c, c / 2, o.batch_norm)));
  }
  outc = register_module("outc", std::make_shared<nn::Conv2d>(o.base_channels, o.num_classes, 1));
}

Tensor UNet::run(const Tensor& x, FieldTracer* t) {
  const int64_t multiple = int64_t(1) << options_.depth;
  KILN_CHECK_VALUE(x.dim() == 4 && x.size(2) % multiple == 0 && x.size(3) % multiple == 0,
                   "UNet: expected input [N, C, H, W] with H and W multiples of ", multiple,
                   " (depth ", options_.depth, "), got ", shape_str(x.shape()));
  std::vector<Tensor> skips;
  Tensor h = FieldTracer::call(t, "inc", *inc, x);
  for (size_t i = 0; i < downs.size(); ++i) {
    skips.push_back(h);
    h = FieldTracer::call(t, "down" + std::to_string(i + 1), *downs[i], h);
  }
  // The main path runs through the bottleneck; the skip tensors join it by concatenation.
  for (size_t i = 0; i < ups.size(); ++i) {
    h = FieldTracer::call(t, "up" + std::to_string(i + 1), *ups[i], h);
    h = cat({skips[skips.size() - 1 - i], h}, 1);
    h = FieldTracer::call(t, "dec" + std::to_string(i + 1), *decs[i], h);
  }
  return FieldTracer::call(t, "outc", *outc, h);
}

Tensor UNet::forward(const Tensor& x) { return run(x, nullptr); }
Tensor UNet::trace_field(FieldTracer& tracer, const Tensor& x) { return run(x, &tracer); }

}  // namespace kiln::models
