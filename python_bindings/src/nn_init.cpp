// kiln::nn::init under torch.nn.init's argument names. The functions write into the tensor's
// storage through their own handle; kiln/nn/init.py returns the caller's tensor object, as torch
// does, so these return nothing.
#include <nanobind/stl/pair.h>

#include "nn_bindings.h"

namespace kiln::python {

void bind_nn_init(nb::module_& nn) {
  namespace I = kiln::nn::init;
  nn.def("calculate_gain", &I::calculate_gain, "nonlinearity"_a,
         nb::arg("param").none() = nb::none());
  nn.def("calculate_fan_in_and_fan_out", &I::calculate_fan_in_and_fan_out, "tensor"_a);
  nn.def(
      "uniform_", [](const Tensor& t, double a, double b) { I::uniform_(t, a, b); }, "tensor"_a,
      "a"_a = 0.0, "b"_a = 1.0);
  nn.def(
      "normal_", [](const Tensor& t, double mean, double std) { I::normal_(t, mean, std); },
      "tensor"_a, "mean"_a = 0.0, "std"_a = 1.0);
  nn.def(
      "constant_", [](const Tensor& t, double v) { I::constant_(t, v); }, "tensor"_a, "val"_a);
  nn.def(
      "xavier_uniform_", [](const Tensor& t, double gain) { I::xavier_uniform_(t, gain); },
      "tensor"_a, "gain"_a = 1.0);
  nn.def(
      "xavier_normal_", [](const Tensor& t, double gain) { I::xavier_normal_(t, gain); },
      "tensor"_a, "gain"_a = 1.0);
  nn.def(
      "kaiming_uniform_",
      [](const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity) {
        I::kaiming_uniform_(t, a, mode, nonlinearity);
      },
      "tensor"_a, "a"_a = 0.0, "mode"_a = "fan_in", "nonlinearity"_a = "leaky_relu");
  nn.def(
      "kaiming_normal_",
      [](const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity) {
        I::kaiming_normal_(t, a, mode, nonlinearity);
      },
      "tensor"_a, "a"_a = 0.0, "mode"_a = "fan_in", "nonlinearity"_a = "leaky_relu");
  nn.def(
      "orthogonal_", [](const Tensor& t, double gain) { I::orthogonal_(t, gain); }, "tensor"_a,
      "gain"_a = 1.0);
}

}  // namespace kiln::python
