// Adagrad with learning-rate decay and weight decay (torch.optim.Adagrad).
#include "kiln/optim/adagrad.h"

#include "kiln/ops.h"

namespace kiln::optim {

namespace {
GroupOptions adagrad_defaults(const AdagradOptions& o) {
  return {{"lr", o.lr},
          {"lr_decay", o.lr_decay},
          {"weight_decay", o.weight_decay},
          {"initial_accumulator_value", o.initial_accumulator_value},
          {"eps", o.eps}};
}
}  // namespace

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions defaults)
    : Adagrad(std::vector<ParamGroup>{ParamGroup{std::move(params), {}}}, defaults) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions defaults)
    : Optimizer("Adagrad", adagrad_defaults(defaults)) {
  init_groups(std::move(groups));
}

void Adagrad::validate(const GroupOptions& o) const {
  KILN_CHECK_VALUE(o.lr() >= 0, "Adagrad: invalid learning rate ", o.lr());
  KILN_CHECK_VALUE(o.get("lr_decay") >= 0, "Adagrad: invalid lr_decay ", o.get("lr_decay"));
  KILN_CHECK_VALUE(o.get("weight_decay") >= 0, "Adagrad: invalid weight_decay ",
                   o.get("weight_decay"));
  KILN_CHECK_VALUE(o.get("initial_accumulator_value") >= 0,
                   "Adagrad: invalid initial_accumulator_value ",
                   o.get("initial_accumulator_value"));
  KILN_CHECK_VALUE(o.get("eps") >= 0, "Adagrad: invalid epsilon ", o.get("eps"));
}

void Adagrad::init_state(const GroupOptions& o, const Tensor& param, ParamState& st) {
  st.step = 0;
  st.buffers["sum"] = full_like(param.detach(), o.get("initial_accumulator_value"));
}

void Adagrad::update(ParamGroup& group) {
  const GroupOptions& o = group.options;
  const double lr = o.lr(), lr_decay = o.get("lr_decay"), eps = o.get("eps");
  const double weight_decay = o.get("weight_decay");
  for (Tensor& p : group.params) {
    Tensor grad = p.grad();
    if (!grad.defined()) continue;
    grad = grad.detach();
    ParamState& st = state(p);
    if (!st.has("sum")) init_state(o, p, st);  // e.g. after loading a state dict without it
    st.step += 1;
    if (weight_decay != 0) grad = add(grad, p, weight_decay);
    const double clr = lr / (1 + double(st.step - 1) * lr_decay);
    Tensor& sum = st.at("sum");
    sum.add_(grad * grad);
    Tensor denom = sqrt(sum).add_(eps);
    p.add_(grad / denom, -clr);
  }
}

}  // namespace kiln::optim
