// Adam and AdamW (torch.optim.Adam / AdamW): bias-corrected moment estimates, optional AMSGrad,
// L2 weight decay in the gradient (Adam) or decoupled weight decay on the parameter (AdamW).
#include "kiln/optim/adam.h"

#include <cmath>
#include <string>

#include "backend/backend.h"
#include "kiln/ops.h"
#include "optim/fused.h"

namespace kiln::optim {

namespace {
template <class Options>
GroupOptions adam_defaults(const Options& o) {
  GroupOptions d{{"lr", o.lr},
                 {"beta1", o.betas.first},
                 {"beta2", o.betas.second},
                 {"eps", o.eps},
                 {"weight_decay", o.weight_decay},
                 {fused::kOption, fused::option_value(o.fused)}};
  d.set_flag("amsgrad", o.amsgrad);
  return d;
}

// The group's step as one Backend::adam_step when fused::eligible; false when it is not.
bool fused_update(Optimizer& opt, ParamGroup& group, const AdamStepArgs& args) {
  std::vector<std::string> names = {"exp_avg", "exp_avg_sq"};
  if (args.amsgrad) names.push_back("max_exp_avg_sq");
  std::vector<Tensor> params, grads;
  std::vector<std::vector<Tensor>> existing;
  for (const Tensor& p : group.params) {
    if (!p.grad().defined()) continue;
    params.push_back(p);
    grads.push_back(p.grad());
    std::vector<Tensor> buffers;
    if (const ParamState* st = opt.find_state(p)) {
      for (const std::string& name : names)
        if (st->has(name)) buffers.push_back(st->buffers.at(name));
    }
    existing.push_back(std::move(buffers));
  }
  if (!fused::eligible(group.options, params, grads, existing)) return false;

  std::vector<Tensor> exp_avgs, exp_avg_sqs, max_exp_avg_sqs;
  std::vector<int64_t> steps;
  for (const Tensor& p : params) {
    ParamState& st = opt.state(p);
    st.step += 1;  // before the update, as the composite counts
    steps.push_back(st.step);
    exp_avgs.push_back(st.buffer("exp_avg", p));
    exp_avg_sqs.push_back(st.buffer("exp_avg_sq", p));
    if (args.amsgrad) max_exp_avg_sqs.push_back(st.buffer("max_exp_avg_sq", p));
  }
  backend(params[0].device())
      .adam_step(params, fused::contiguous_grads(grads), exp_avgs, exp_avg_sqs, max_exp_avg_sqs,
                 steps, args);
  fused::bump_versions(params);
  fused::bump_versions(exp_avgs);
  fused::bump_versions(exp_avg_sqs);
  fused::bump_versions(max_exp_avg_sqs);
  return true;
}
}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions defaults)
    : Adam(std::vector<ParamGroup>{ParamGroup{std::move(params), {}}}, defaults) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions defaults)
    : Adam("Adam", adam_defaults(defaults), false) {
  init_groups(std::move(groups));
}

Adam::Adam(std::string name, GroupOptions defaults, bool decoupled_weight_decay)
    : Optimizer(std::move(name), std::move(defaults)),
      decoupled_weight_decay_(decoupled_weight_decay) {}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions defaults)
    : AdamW(std::vector<ParamGroup>{ParamGroup{std::move(params), {}}}, defaults) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions defaults)
    : Adam("AdamW", adam_defaults(defaults), true) {
  init_groups(std::move(groups));
}

void Adam::validate(const GroupOptions& o) const {
  const std::string& n = name();
  KILN_CHECK_VALUE(o.lr() >= 0, n, ": invalid learning rate ", o.lr());
  KILN_CHECK_VALUE(o.get("eps") >= 0, n, ": invalid epsilon ", o.get("eps"));
  KILN_CHECK_VALUE(o.get("beta1") >= 0 && o.get("beta1") < 1, n, ": invalid beta1 ", o.get("beta1"),
                   " (expected 0 <= beta1 < 1)");
  KILN_CHECK_VALUE(o.get("beta2") >= 0 && o.get("beta2") < 1, n, ": invalid beta2 ", o.get("beta2"),
                   " (expected 0 <= beta2 < 1)");
  KILN_CHECK_VALUE(o.get("weight_decay") >= 0, n, ": invalid weight_decay ", o.get("weight_decay"));
  fused::check_option(n, o);
}

void Adam::update(ParamGroup& group) {
  const GroupOptions& o = group.options;
  const double lr = o.lr(), beta1 = o.get("beta1"), beta2 = o.get("beta2"), eps = o.get("eps");
  const double weight_decay = o.get("weight_decay");
  const bool amsgrad = o.flag("amsgrad");
  if (fused_update(
          *this, group,
          AdamStepArgs{lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay_, amsgrad}))
    return;

  // The composite step: the oracle of the fused kernels.
  for (Tensor& p : group.params) {
    Tensor grad = p.grad();
    if (!grad.defined()) continue;
    grad = grad.detach();
    ParamState& st = state(p);
    st.step += 1;
    if (decoupled_weight_decay_) {
      if (weight_decay != 0) p.mul_(1 - lr * weight_decay);
    } else if (weight_decay != 0) {
      grad = add(grad, p, weight_decay);
    }

    Tensor& exp_avg = st.buffer("exp_avg", p);
    Tensor& exp_avg_sq = st.buffer("exp_avg_sq", p);
    exp_avg.mul_(beta1).add_(grad, 1 - beta1);
    exp_avg_sq.mul_(beta2).add_(grad * grad, 1 - beta2);

    const double step = double(st.step);
    const double bias_correction1 = 1 - std::pow(beta1, step);
    const double bias_correction2 = 1 - std::pow(beta2, step);
    const double step_size = lr / bias_correction1;
    const double bias_correction2_sqrt = std::sqrt(bias_correction2);

    Tensor second = exp_avg_sq;
    if (amsgrad) {
      Tensor& max_exp_avg_sq = st.buffer("max_exp_avg_sq", p);
      max_exp_avg_sq.copy_(maximum(max_exp_avg_sq, exp_avg_sq));
      second = max_exp_avg_sq;
    }
    Tensor denom = (sqrt(second) / bias_correction2_sqrt).add_(eps);
    p.add_(exp_avg / denom, -step_size);
  }
}

}  // namespace kiln::optim
