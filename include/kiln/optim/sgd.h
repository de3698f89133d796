#pragma once
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// as torch.optim.SGD (PyTorch 1.13):
//   g = grad + weight_decay * p
//   b = g on the first step, else momentum * b + (1 - dampening) * g
//   g = nesterov ? g + momentum * b : b              (when momentum != 0)
//   p -= lr * g
// The whole group's step can run as one fused kernel (Backend::sgd_step): see `fused`.
#include <limits>
#include <optional>
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

struct SGDOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();  // required, as in PyTorch
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  // The fused step: one kernel for all the parameters of a group (one launch on CUDA) instead of
  // a few ops per parameter. Unset: fused on CUDA, composite on the CPU; true: fused on any
  // device; false: always the composite. Either way the results agree to rounding. The fused
  // step is taken only when the group's parameters with gradients and their state share one
  // device and one floating dtype and are contiguous; otherwise the composite runs.
  std::optional<bool> fused = std::nullopt;
};

// SGD opt(params, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
// Group options: "lr", "momentum", "dampening", "weight_decay", "nesterov" (flag), "fused"
// (NaN = unset, 0 or 1; saved as such in the state dict).
// State: "momentum_buffer" (when momentum != 0); no step count.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions defaults);
  SGD(std::vector<ParamGroup> groups, SGDOptions defaults);

 protected:
  void update(ParamGroup& group) override;
  void validate(const GroupOptions& options) const override;
  bool counts_steps() const override { return false; }
};

}  // namespace kiln::optim
