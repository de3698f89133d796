#pragma once
// Adam and AdamW as torch.optim.Adam / AdamW (PyTorch 1.13):
//   t += 1
//   Adam:  g = grad + weight_decay * p          (L2 penalty in the gradient)
//   AdamW: p *= 1 - lr * weight_decay;  g = grad (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
//   amsgrad: v_max = max(v_max, v), used in place of v below
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The whole group's step can run as one fused kernel (Backend::adam_step): see `fused`.
#include <optional>
#include <utility>
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
  // The fused step (one launch per group on CUDA). Unset: fused on CUDA, composite on the CPU;
  // true: fused on any device; false: always the composite. As SGDOptions::fused.
  std::optional<bool> fused = std::nullopt;
};

struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  std::optional<bool> fused = std::nullopt;  // as AdamOptions::fused
};

// Group options: "lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad" (flag), "fused" (NaN =
// unset, 0 or 1).
// State: "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (amsgrad), step.
class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<Tensor> params, AdamOptions defaults = {});
  Adam(std::vector<ParamGroup> groups, AdamOptions defaults = {});

 protected:
  Adam(std::string name, GroupOptions defaults, bool decoupled_weight_decay);
  void update(ParamGroup& group) override;
  void validate(const GroupOptions& options) const override;

 private:
  bool decoupled_weight_decay_ = false;
};

class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamWOptions defaults = {});
  AdamW(std::vector<ParamGroup> groups, AdamWOptions defaults = {});
};

}  // namespace kiln::optim
