// SGD with momentum, dampening, Nesterov momentum and weight decay (torch.optim.SGD).
#include "kiln/optim/sgd.h"

#include <cmath>

#include "backend/backend.h"
#include "kiln/ops.h"
#include "optim/fused.h"

namespace kiln::optim {

namespace {
GroupOptions sgd_defaults(const SGDOptions& o) {
  GroupOptions d{{"lr", o.lr},
                 {"momentum", o.momentum},
                 {"dampening", o.dampening},
                 {"weight_decay", o.weight_decay},
                 {fused::kOption, fused::option_value(o.fused)}};
  d.set_flag("nesterov", o.nesterov);
  return d;
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions defaults)
    : SGD(std::vector<ParamGroup>{ParamGroup{std::move(params), {}}}, defaults) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions defaults)
    : Optimizer("SGD", sgd_defaults(defaults)) {
  init_groups(std::move(groups));
}

void SGD::validate(const GroupOptions& o) const {
  KILN_CHECK_VALUE(!std::isnan(o.lr()),
                   "SGD: the learning rate is required (SGDOptions{.lr = ...})");
  KILN_CHECK_VALUE(o.lr() >= 0, "SGD: invalid learning rate ", o.lr());
  KILN_CHECK_VALUE(o.get("momentum") >= 0, "SGD: invalid momentum ", o.get("momentum"));
  KILN_CHECK_VALUE(o.get("weight_decay") >= 0, "SGD: invalid weight_decay ", o.get("weight_decay"));
  KILN_CHECK_VALUE(!o.flag("nesterov") || (o.get("momentum") > 0 && o.get("dampening") == 0),
                   "SGD: Nesterov momentum requires a momentum and zero dampening");
  fused::check_option("SGD", o);
}

namespace {

// The group's step as one Backend::sgd_step when fused::eligible; false when it is not.
bool fused_update(Optimizer& opt, ParamGroup& group, const SgdStepArgs& args) {
  std::vector<Tensor> params, grads;
  std::vector<std::vector<Tensor>> existing;
  const bool momentum = args.momentum != 0;
  for (const Tensor& p : group.params) {
    if (!p.grad().defined()) continue;
    params.push_back(p);
    grads.push_back(p.grad());
    const ParamState* st = opt.find_state(p);
    existing.push_back({momentum && st && st->has("momentum_buffer")
                            ? st->buffers.at("momentum_buffer")
                            : Tensor()});
  }
  if (!fused::eligible(group.options, params, grads, existing)) return false;

  std::vector<Tensor> buffers;
  std::vector<uint8_t> first_step;
  if (momentum) {
    for (const Tensor& p : params) {
      ParamState& st = opt.state(p);
      // A parameter's first step with a gradient: the kernel initialises its buffer.
      const bool first = !st.has("momentum_buffer");
      if (first) st.buffers["momentum_buffer"] = empty_like(p.detach());
      buffers.push_back(st.at("momentum_buffer"));
      first_step.push_back(first ? 1 : 0);
    }
  }
  backend(params[0].device())
      .sgd_step(params, fused::contiguous_grads(grads), buffers, first_step, args);
  fused::bump_versions(params);
  fused::bump_versions(buffers);
  return true;
}

}  // namespace

void SGD::update(ParamGroup& group) {
  const GroupOptions& o = group.options;
  const double lr = o.lr(), momentum = o.get("momentum"), dampening = o.get("dampening");
  const double weight_decay = o.get("weight_decay");
  const bool nesterov = o.flag("nesterov");
  if (fused_update(*this, group, SgdStepArgs{lr, momentum, dampening, weight_decay, nesterov}))
    return;

  // The composite step: the oracle of the fused kernels.
  for (Tensor& p : group.params) {
    Tensor d_p = p.grad();
    if (!d_p.defined()) continue;
    d_p = d_p.detach();
    if (weight_decay != 0) d_p = add(d_p, p, weight_decay);
    if (momentum != 0) {
      ParamState& st = state(p);
      if (!st.has("momentum_buffer")) {
        st.buffers["momentum_buffer"] = d_p.clone();  // the first gradient, as in PyTorch
      } else {
        st.at("momentum_buffer").mul_(momentum).add_(d_p, 1 - dampening);
      }
      const Tensor& buf = st.at("momentum_buffer");
      d_p = nesterov ? add(d_p, buf, momentum) : buf;
    }
    p.add_(d_p, -lr);
  }
}

}  // namespace kiln::optim
