#pragma once
// Dropout (torch.nn.Dropout): zeroes elements with probability p while training and scales the
// kept ones by 1 / (1 - p) (inverted dropout), so evaluation is the identity.
#include "kiln/nn/module.h"

namespace kiln::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  // Uses kiln::dropout: the mask is a Philox draw from the default generator.
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p() const { return p_; }

 private:
  double p_;
};

}  // namespace kiln::nn
