// Linear and Bilinear layers.
#include "kiln/nn/linear.h"

#include <cmath>

#include "kiln/nn/init.h"
#include "kiln/ops.h"

namespace kiln::nn {

// ---------------- Linear ----------------

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : Module("Linear"), in_features_(in_features), out_features_(out_features) {
  KILN_CHECK_VALUE(in_features >= 0 && out_features >= 0,
                   "Linear: in_features and out_features must be non-negative, got ", in_features,
                   " and ", out_features);
  weight = register_parameter("weight", empty({out_features, in_features}));
  this->bias = register_parameter("bias", bias ? empty({out_features}) : Tensor());
  reset_parameters();
}

void Linear::reset_parameters() {
  // kaiming_uniform_ with a = sqrt(5) gives gain sqrt(1/3), so the bound is 1/sqrt(fan_in): the
  // historical default PyTorch keeps for compatibility.
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) {
  KILN_CHECK(x.defined(), "Linear: the input is undefined");
  KILN_CHECK_VALUE(x.dim() >= 1 && x.size(-1) == in_features_,
                   "Linear: expected an input whose "
                   "last dimension is in_features=",
                   in_features_, ", got shape ", shape_str(x.shape()));
  return linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features_) +
         ", out_features=" + std::to_string(out_features_) + ", bias=" + repr_bool(bias.defined());
}

// ---------------- Bilinear ----------------

Bilinear::Bilinear(int64_t in1_features, int64_t in2_features, int64_t out_features, bool bias)
    : Module("Bilinear"),
      in1_features_(in1_features),
      in2_features_(in2_features),
      out_features_(out_features) {
  KILN_CHECK_VALUE(in1_features >= 0 && in2_features >= 0 && out_features >= 0,
                   "Bilinear: feature sizes must be non-negative, got ", in1_features, ", ",
                   in2_features, " and ", out_features);
  weight = register_parameter("weight", empty({out_features, in1_features, in2_features}));
  this->bias = register_parameter("bias", bias ? empty({out_features}) : Tensor());
  reset_parameters();
}

void Bilinear::reset_parameters() {
  // PyTorch: both from U(-1/sqrt(in1), 1/sqrt(in1)), in1 being weight.size(1).
  double bound = in1_features_ > 0 ? 1.0 / std::sqrt(double(in1_features_)) : 0.0;
  init::uniform_(weight, -bound, bound);
  if (bias.defined()) init::uniform_(bias, -bound, bound);
}

Tensor Bilinear::forward(const Tensor& x1, const Tensor& x2) {
  KILN_CHECK(x1.defined() && x2.defined(), "Bilinear: an input is undefined");
  KILN_CHECK_VALUE(x1.dim() >= 1 && x1.size(-1) == in1_features_,
                   "Bilinear: expected input1 whose last dimension is in1_features=", in1_features_,
                   ", got shape ", shape_str(x1.shape()));
  KILN_CHECK_VALUE(x2.dim() >= 1 && x2.size(-1) == in2_features_,
                   "Bilinear: expected input2 whose last dimension is in2_features=", in2_features_,
                   ", got shape ", shape_str(x2.shape()));
  Shape lead(x1.shape().begin(), x1.shape().end() - 1);
  KILN_CHECK_VALUE(Shape(x2.shape().begin(), x2.shape().end() - 1) == lead,
                   "Bilinear: input1 and input2 must have the same batch dimensions, got shapes ",
                   shape_str(x1.shape()), " and ", shape_str(x2.shape()));
  const int64_t n = numel_of(lead);
  // y[b, k] = sum_ij a[b, i] W[k, i, j] c[b, j], as one matrix product: a @ W' with
  // W' = W permuted to [in1, out * in2], then a product with c summed over j.
  Tensor a = x1.reshape({n, in1_features_});
  Tensor c = x2.reshape({n, in2_features_});
  Tensor w = weight.permute({1, 0, 2}).reshape({in1_features_, out_features_ * in2_features_});
  Tensor t = matmul(a, w).reshape({n, out_features_, in2_features_});
  Tensor y = sum(t * c.unsqueeze(1), {2});
  if (bias.defined()) y = y + bias;
  lead.push_back(out_features_);
  return y.reshape(lead);
}

Tensor Bilinear::forward(const Tensor&) {
  throw Error("Bilinear: forward takes two inputs, forward(x1, x2)");
}

std::string Bilinear::extra_repr() const {
  return "in1_features=" + std::to_string(in1_features_) +
         ", in2_features=" + std::to_string(in2_features_) +
         ", out_features=" + std::to_string(out_features_) + ", bias=" + repr_bool(bias.defined());
}

}  // namespace kiln::nn
