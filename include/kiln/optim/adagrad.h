#pragma once
// Adagrad as torch.optim.Adagrad (PyTorch 1.13):
//   t += 1;  g = grad + weight_decay * p;  clr = lr / (1 + (t - 1) * lr_decay)
//   sum += g * g;  p -= clr * g / (sqrt(sum) + eps)
// The sum starts at initial_accumulator_value; like PyTorch, the state is created when a
// parameter is added, not on its first step.
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
};

// Group options: "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps".
// State: "sum", step.
class Adagrad : public Optimizer {
 public:
  explicit Adagrad(std::vector<Tensor> params, AdagradOptions defaults = {});
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions defaults = {});

 protected:
  void update(ParamGroup& group) override;
  void validate(const GroupOptions& options) const override;
  void init_state(const GroupOptions& options, const Tensor& param, ParamState& state) override;
};

}  // namespace kiln::optim
