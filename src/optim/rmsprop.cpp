// RMSprop, plain or centered, with momentum and weight decay (torch.optim.RMSprop).
#include "kiln/optim/rmsprop.h"

#include "kiln/ops.h"

namespace kiln::optim {

namespace {
GroupOptions rmsprop_defaults(const RMSpropOptions& o) {
  GroupOptions d{{"lr", o.lr},
                 {"alpha", o.alpha},
                 {"eps", o.eps},
                 {"weight_decay", o.weight_decay},
                 {"momentum", o.momentum}};
  d.set_flag("centered", o.centered);
  return d;
}
}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions defaults)
    : RMSprop(std::vector<ParamGroup>{ParamGroup{std::move(params), {}}}, defaults) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions defaults)
    : Optimizer("RMSprop", rmsprop_defaults(defaults)) {
  init_groups(std::move(groups));
}

void RMSprop::validate(const GroupOptions& o) const {
  KILN_CHECK_VALUE(o.lr() >= 0, "RMSprop: invalid learning rate ", o.lr());
  KILN_CHECK_VALUE(o.get("eps") >= 0, "RMSprop: invalid epsilon ", o.get("eps"));
  KILN_CHECK_VALUE(o.get("momentum") >= 0, "RMSprop: invalid momentum ", o.get("momentum"));
  KILN_CHECK_VALUE(o.get("weight_decay") >= 0, "RMSprop: invalid weight_decay ",
                   o.get("weight_decay"));
  KILN_CHECK_VALUE(o.get("alpha") >= 0, "RMSprop: invalid alpha ", o.get("alpha"));
}

void RMSprop::update(ParamGroup& group) {
  const GroupOptions& o = group.options;
  const double lr = o.lr(), alpha = o.get("alpha"), eps = o.get("eps");
  const double weight_decay = o.get("weight_decay"), momentum = o.get("momentum");
  const bool centered = o.flag("centered");
  for (Tensor& p : group.params) {
    Tensor grad = p.grad();
    if (!grad.defined()) continue;
    grad = grad.detach();
    ParamState& st = state(p);
    st.step += 1;
    if (weight_decay != 0) grad = add(grad, p, weight_decay);

    Tensor& square_avg = st.buffer("square_avg", p);
    square_avg.mul_(alpha).add_(grad * grad, 1 - alpha);
    Tensor avg;
    if (centered) {
      Tensor& grad_avg = st.buffer("grad_avg", p);
      grad_avg.mul_(alpha).add_(grad, 1 - alpha);
      avg = sqrt(sub(square_avg, grad_avg * grad_avg));
    } else {
      avg = sqrt(square_avg);
    }
    avg.add_(eps);
    if (momentum > 0) {
      Tensor& buf = st.buffer("momentum_buffer", p);
      buf.mul_(momentum).add_(grad / avg);
      p.add_(buf, -lr);
    } else {
      p.add_(grad / avg, -lr);
    }
  }
}

}  // namespace kiln::optim
