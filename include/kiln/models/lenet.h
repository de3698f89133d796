#pragma once
// LeNet-5 (LeCun et al. 1998) for 28x28 inputs, in its common modern form:
//   conv1 6@5x5, padding 2 (the 28x28 digit laid out as the paper's 32x32 field) -> ReLU ->
//   max pool 2x2 -> conv2 16@5x5 -> ReLU -> max pool 2x2 -> flatten (16 x 5 x 5 = 400) ->
//   fc1 120 -> ReLU -> fc2 84 -> ReLU -> fc3 num_classes.
// The paper's scaled tanh and trainable sub-sampling are replaced by ReLU and max pooling, which
// train faster and reach a lower error. Parameters: conv1, conv2, fc1, fc2, fc3 (.weight/.bias),
// initialised as the layers' defaults (torch's).
#include <cstdint>
#include <memory>

#include "kiln/nn/activation.h"
#include "kiln/nn/convolution.h"
#include "kiln/nn/linear.h"
#include "kiln/nn/pooling.h"
#include "kiln/nn/receptive_field.h"

namespace kiln::models {

class LeNet5 : public nn::Module, public nn::FieldTraced {
 public:
  // Input [N, in_channels, 28, 28]; output [N, num_classes] logits.
  explicit LeNet5(int64_t num_classes = 10, int64_t in_channels = 1);
  Tensor forward(const Tensor& x) override;
  Tensor trace_field(nn::FieldTracer& tracer, const Tensor& x) override;

  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::MaxPool2d> pool;  // used after each convolution
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;

 private:
  Tensor run(const Tensor& x, nn::FieldTracer* tracer);
};

}  // namespace kiln::models
