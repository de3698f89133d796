#pragma once
// Flatten and Unflatten (torch.nn.modules.flatten): reshaping layers for Sequential models.
#include <cstdint>

#include "kiln/nn/module.h"

namespace kiln::nn {

// Flattens dimensions start_dim..end_dim into one; by default everything but the batch.
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t start_dim_;
  int64_t end_dim_;
};

// Expands dimension `dim` into `sizes` (one entry may be -1, inferred).
class Unflatten : public Module {
 public:
  Unflatten(int64_t dim, Shape sizes);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t dim_;
  Shape sizes_;
};

}  // namespace kiln::nn
