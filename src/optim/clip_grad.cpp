// Gradient clipping by total norm and by value (torch.nn.utils.clip_grad_*).
#include "kiln/optim/clip_grad.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/backend.h"
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

  // Per (device, dtype) group of gradients, one Backend::norm_of_tensors call (one launch and
  // one synchronisation on CUDA) gives sum |g|^p (or max |g|) over the whole group in double;
  // the groups combine here. This is the p-norm of all gradients concatenated, as torch's
  // norm of the per-gradient norms is.
  struct Group {
    Device device;
    DType dtype;
    std::vector<Tensor> grads;
  };
  std::vector<Group> groups;  // in order of first appearance
  for (const Tensor& g : grads) {
    if (g.numel() == 0) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& x) {
      return x.device == g.device() && x.dtype == g.dtype();
    });
    if (it == groups.end()) it = groups.insert(groups.end(), Group{g.device(), g.dtype(), {}});
    it->grads.push_back(g.detach());
  }
  const bool inf_norm = std::isinf(norm_type);
  double total = 0;
  for (const Group& group : groups) {
    Tensor out = empty({1}, TensorOptions(DType::Float64, group.device));
    backend(group.device).norm_of_tensors(group.grads, norm_type, out);
    const double n = out.item();
    if (inf_norm) {
      total = std::isnan(n) || std::isnan(total) ? NAN : std::max(total, n);
    } else {
      total += n;
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
