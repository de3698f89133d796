// Activation modules: each forwards to its op in kiln/ops.h.
#include "kiln/nn/activation.h"

#include "kiln/ops.h"

namespace kiln::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope_); }
std::string LeakyReLU::extra_repr() const {
  return "negative_slope=" + repr_double(negative_slope_);
}

Tensor ELU::forward(const Tensor& x) { return elu(x, alpha_); }
std::string ELU::extra_repr() const { return "alpha=" + repr_double(alpha_); }

Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

Tensor Tanh::forward(const Tensor& x) { return tanh(x); }

GELU::GELU(std::string approximate) : Module("GELU"), approximate_(std::move(approximate)) {
  // Checked here so that a typo fails when the model is built, not at the first forward.
  KILN_CHECK_VALUE(approximate_ == "none" || approximate_ == "tanh",
                   "GELU: approximate must be 'none' or 'tanh', got '", approximate_, "'");
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate_); }
std::string GELU::extra_repr() const { return "approximate='" + approximate_ + "'"; }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }

Tensor Softplus::forward(const Tensor& x) { return softplus(x, beta_, threshold_); }
std::string Softplus::extra_repr() const {
  return "beta=" + repr_double(beta_) + ", threshold=" + repr_double(threshold_);
}

Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim_); }
std::string Softmax::extra_repr() const { return "dim=" + std::to_string(dim_); }

Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim_); }
std::string LogSoftmax::extra_repr() const { return "dim=" + std::to_string(dim_); }

}  // namespace kiln::nn
