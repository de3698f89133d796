// SGD with momentum, dampening, Nesterov momentum and weight decay (torch.optim.SGD).
#include "kiln/optim/sgd.h"

#include <cmath>

#include "kiln/ops.h"

namespace kiln::optim {

namespace {
GroupOptions sgd_defaults(const SGDOptions& o) {
  GroupOptions d{{"lr", o.lr},
                 {"momentum", o.momentum},
                 {"dampening", o.dampening},
                 {"weight_decay", o.weight_decay}};
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
}

void SGD::update(ParamGroup& group) {
  const GroupOptions& o = group.options;
  const double lr = o.lr(), momentum = o.get("momentum"), dampening = o.get("dampening");
  const double weight_decay = o.get("weight_decay");
  const bool nesterov = o.flag("nesterov");
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
