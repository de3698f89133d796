// Gradient clipping by total norm and by value (torch.nn.utils.clip_grad_*).
#include "kiln/optim/clip_grad.h"

#include <algorithm>
#include <cmath>

#include "kiln/autograd.h"
#include "kiln/ops.h"

namespace kiln::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  KILN_CHECK_VALUE(norm_type > 0, "clip_grad_norm_: norm_type must be positive or inf, got ",
                   norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;

  // Each gradient's norm, combined in double: ||(n_1, ..., n_k)||_p equals the p-norm of the
  // concatenated gradients.
  const bool inf_norm = std::isinf(norm_type);
  double total = 0;
  for (const Tensor& g : grads) {
    if (g.numel() == 0) continue;
    const double n = norm(g.detach(), norm_type).item();
    if (inf_norm) {
      total = std::isnan(n) || std::isnan(total) ? NAN : std::max(total, n);
    } else {
      total += std::pow(n, norm_type);
    }
  }
  if (!inf_norm) total = std::pow(total, 1.0 / norm_type);

  KILN_CHECK(!error_if_nonfinite || std::isfinite(total),
             "clip_grad_norm_: the total norm of order ", norm_type,
             " of the gradients is non-finite (", total,
             "), so it cannot be clipped; pass error_if_nonfinite = false to clip anyway");
  const double clip_coef = max_norm / (total + 1e-6);
  if (clip_coef < 1 || std::isnan(clip_coef)) {
    for (Tensor& g : grads) g.mul_(clip_coef);
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  NoGradGuard no_grad;
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    Tensor g = p.grad();
    g.clamp_(-clip_value, clip_value);
  }
}

}  // namespace kiln::optim
