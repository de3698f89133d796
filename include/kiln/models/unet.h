#pragma once
// A small U-Net (Ronneberger et al. 2015) with "same" 3x3 convolutions, so the output has the
// input's height and width:
//   inc            DoubleConv(in_channels, base)
//   down1..downD   MaxPool2d(2) + DoubleConv(c, 2c)               (a Sequential: .0, .1)
//   up1..upD       ConvTranspose2d(c, c/2, 2, stride 2), or with `bilinear` a Sequential of
//                  Upsample(x2, bilinear) + Conv2d(c, c/2, 1)
//   dec1..decD     DoubleConv(c, c/2) on cat([skip, upsampled], dim 1)
//   outc           Conv2d(base, num_classes, 1)
// DoubleConv is a Sequential: Conv2d 3x3 (padding 1), BatchNorm2d, ReLU, twice (without
// batch_norm: Conv2d with bias, ReLU, twice). D = depth; height and width must be multiples
// of 2^depth. Layers keep their default (torch) initialisation.
#include <cstdint>
#include <memory>
#include <vector>

#include "kiln/nn/container.h"
#include "kiln/nn/convolution.h"
#include "kiln/nn/receptive_field.h"

namespace kiln::models {

struct UNetOptions {
  int64_t in_channels = 3;
  int64_t num_classes = 2;
  int64_t base_channels = 16;
  int64_t depth = 3;
  bool bilinear = false;
  bool batch_norm = true;
};

// Conv 3x3 (padding 1) [+ BatchNorm2d] + ReLU, twice: a Sequential.
std::shared_ptr<nn::Sequential> double_conv(int64_t in_channels, int64_t out_channels,
                                            bool batch_norm = true);

class UNet : public nn::Module, public nn::FieldTraced {
 public:
  explicit UNet(const UNetOptions& options = {});
  // [N, in_channels, H, W] -> [N, num_classes, H, W] logits.
  Tensor forward(const Tensor& x) override;
  Tensor trace_field(nn::FieldTracer& tracer, const Tensor& x) override;

  std::shared_ptr<nn::Sequential> inc;
  std::vector<std::shared_ptr<nn::Sequential>> downs;  // down1..downD
  std::vector<std::shared_ptr<nn::Module>> ups;        // up1..upD
  std::vector<std::shared_ptr<nn::Sequential>> decs;   // dec1..decD
  std::shared_ptr<nn::Conv2d> outc;

 private:
  Tensor run(const Tensor& x, nn::FieldTracer* tracer);
  UNetOptions options_;
};

}  // namespace kiln::models
