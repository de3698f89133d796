#pragma once
// Linear layers: Identity, Linear, Bilinear (torch.nn.modules.linear). Parameter names, layouts
// and default initialisation follow PyTorch, so their state_dicts are interchangeable.
#include <cstdint>

#include "kiln/nn/module.h"

namespace kiln::nn {

// Returns its input unchanged; a placeholder where a layer is optional.
class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// y = x Wᵀ + b over the last dimension. weight: [out_features, in_features], bias: [out_features].
// Initialisation: weight ~ kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), and
// bias ~ U(-1/sqrt(in), 1/sqrt(in)).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  // Draws fresh weights from the default generator (PyTorch's reset_parameters).
  void reset_parameters();

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  int64_t in_features_;
  int64_t out_features_;
};

// y[..., k] = x1[..., :] · weight[k] · x2[..., :] + bias[k]. weight: [out, in1, in2],
// bias: [out]; both ~ U(-1/sqrt(in1), 1/sqrt(in1)) like PyTorch. x1 and x2 must have the same
// leading (batch) dimensions.
class Bilinear : public Module {
 public:
  Bilinear(int64_t in1_features, int64_t in2_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x1, const Tensor& x2);
  // Bilinear takes two inputs; the one-input forward explains that.
  Tensor forward(const Tensor& x) override;
  using Module::operator();
  Tensor operator()(const Tensor& x1, const Tensor& x2) { return forward(x1, x2); }
  std::string extra_repr() const override;
  void reset_parameters();

  int64_t in1_features() const { return in1_features_; }
  int64_t in2_features() const { return in2_features_; }
  int64_t out_features() const { return out_features_; }

  Tensor weight;
  Tensor bias;

 private:
  int64_t in1_features_;
  int64_t in2_features_;
  int64_t out_features_;
};

}  // namespace kiln::nn
