#include "kiln/models/lenet.h"

#include "kiln/ops.h"

namespace kiln::models {

LeNet5::LeNet5(int64_t num_classes, int64_t in_channels) : Module("LeNet5") {
  conv1 = register_module(
      "conv1", std::make_shared<nn::Conv2d>(in_channels, 6, 5, nn::Conv2dOptions{.padding = 2}));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(6, 16, 5));
  pool = register_module("pool", std::make_shared<nn::MaxPool2d>(nn::Size2{2, 2}));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(16 * 5 * 5, 120));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(120, 84));
  fc3 = register_module("fc3", std::make_shared<nn::Linear>(84, num_classes));
}

Tensor LeNet5::run(const Tensor& x, nn::FieldTracer* t) {
  using nn::FieldTracer;
  Tensor h = FieldTracer::call(t, "conv1", *conv1, x);
  h = FieldTracer::call(t, "relu", *relu, h);
  h = FieldTracer::call(t, "pool", *pool, h);
  h = FieldTracer::call(t, "conv2", *conv2, h);
  h = FieldTracer::call(t, "relu", *relu, h);
  h = FieldTracer::call(t, "pool", *pool, h);
  h = flatten(h, 1);
  h = FieldTracer::call(t, "fc1", *fc1, h);
  h = FieldTracer::call(t, "relu", *relu, h);
  h = FieldTracer::call(t, "fc2", *fc2, h);
  h = FieldTracer::call(t, "relu", *relu, h);
  return FieldTracer::call(t, "fc3", *fc3, h);
}

Tensor LeNet5::forward(const Tensor& x) { return run(x, nullptr); }
Tensor LeNet5::trace_field(nn::FieldTracer& tracer, const Tensor& x) { return run(x, &tracer); }

}  // namespace kiln::models
