// Activation functions: one kernel each, backward in Kiln ops.
#include "ops/linear_act.h"
#include "ops/unary_op.h"

namespace kiln {

namespace {
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;
constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kGeluTanhC = 0.044715;
}  // namespace

Tensor relu(const Tensor& x) {
  return unary_op(
      {OpId::Relu, "ReluBackward0", kSaveOutput, false}, x,
      [](const Tensor&, const Tensor& y, const Tensor& g) { return mask_grad(y > 0, g); });
}

Tensor leaky_relu(const Tensor& x, double slope) {
  OpParams p;
  p.a = slope;
  return unary_op({OpId::LeakyRelu, "LeakyReluBackward0", kSaveInput, true, p}, x,
                  [slope](const Tensor& x, const Tensor&, const Tensor& g) {
                    return where(x > 0, g, g * slope);
                  });
}

Tensor elu(const Tensor& x, double alpha) {
  OpParams p;
  p.a = alpha;
  return unary_op({OpId::Elu, "EluBackward0", kSaveInput, true, p}, x,
                  [alpha](const Tensor& x, const Tensor&, const Tensor& g) {
                    return where(x > 0, g, g * exp(x) * alpha);
                  });
}

Tensor sigmoid(const Tensor& x) {
  return unary_op({OpId::Sigmoid, "SigmoidBackward0", kSaveOutput}, x,
                  [](const Tensor&, const Tensor& y, const Tensor& g) { return g * y * (1 - y); });
}

Tensor tanh(const Tensor& x) {
  return unary_op({OpId::Tanh, "TanhBackward0", kSaveOutput}, x,
                  [](const Tensor&, const Tensor& y, const Tensor& g) { return g * (1 - y * y); });
}

Tensor gelu_tanh_grad_factor(const Tensor& x) {
  // float16/bfloat16 are widened first: x * x overflows float16 from |x| = 256, and 0 * inf
  // would make the gradient NaN where it is 1 (torch computes this in float32 too).
  const bool narrow = x.dtype() == DType::Float16 || x.dtype() == DType::BFloat16;
  const Tensor z = narrow ? x.to(DType::Float32) : x;
  Tensor t = tanh((z + z * z * z * kGeluTanhC) * kSqrt2OverPi);
  Tensor du = (z * z * (3 * kGeluTanhC) + 1) * kSqrt2OverPi;
  Tensor d = (t + 1) * 0.5 + z * 0.5 * (1 - t * t) * du;
  return narrow ? d.to(x.dtype()) : d;
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  KILN_CHECK_VALUE(approximate == "none" || approximate == "tanh",
                   "gelu: approximate must be 'none' or 'tanh', got '", approximate, "'");
  OpParams p;
  p.mode = approximate == "tanh" ? 1 : 0;
  if (p.mode == 1) {
    return unary_op({OpId::Gelu, "GeluBackward0", kSaveInput, true, p}, x,
                    [](const Tensor& x, const Tensor&, const Tensor& g) {
                      return g * gelu_tanh_grad_factor(x);
                    });
  }
  return unary_op({OpId::Gelu, "GeluBackward0", kSaveInput, true, p}, x,
                  [](const Tensor& x, const Tensor&, const Tensor& g) {
                    Tensor cdf = (erf(x * kInvSqrt2) + 1) * 0.5;
                    Tensor pdf = exp(x * x * -0.5) * kInvSqrt2Pi;
                    return g * (cdf + x * pdf);
                  });
}

Tensor silu(const Tensor& x) {
  return unary_op({OpId::Silu, "SiluBackward0", kSaveInput}, x,
                  [](const Tensor& x, const Tensor&, const Tensor& g) {
                    Tensor s = sigmoid(x);
                    return g * s * (x * (1 - s) + 1);
                  });
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  KILN_CHECK_VALUE(beta != 0, "softplus: beta must be nonzero");
  OpParams p;
  p.a = beta;
  p.b = threshold;
  return unary_op({OpId::Softplus, "SoftplusBackward0", kSaveInput, true, p}, x,
                  [beta, threshold](const Tensor& x, const Tensor&, const Tensor& g) {
                    return where(x * beta > threshold, g, g * sigmoid(x * beta));
                  });
}

}  // namespace kiln
