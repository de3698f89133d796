#pragma once
// RMSprop as torch.optim.RMSprop (PyTorch 1.13):
//   g = grad + weight_decay * p
//   v = alpha * v + (1 - alpha) * g * g
//   centered:  m = alpha * m + (1 - alpha) * g;  avg = sqrt(v - m * m) + eps
//   otherwise: avg = sqrt(v) + eps
//   momentum > 0: b = momentum * b + g / avg;  p -= lr * b     (b starts at zero)
//   otherwise:    p -= lr * g / avg
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
};

// Group options: "lr", "alpha", "eps", "weight_decay", "momentum", "centered" (flag).
// State: "square_avg", "momentum_buffer" (momentum > 0), "grad_avg" (centered), step.
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(std::vector<Tensor> params, RMSpropOptions defaults = {});
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions defaults = {});

 protected:
  void update(ParamGroup& group) override;
  void validate(const GroupOptions& options) const override;
};

}  // namespace kiln::optim
