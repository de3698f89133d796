// The optimizers in kiln._C._optim: SGD, Adagrad, RMSprop, Adam and AdamW, each built from a
// list of (params, option overrides) groups, plus the accessors through which the Python
// param-group and state views (kiln/optim/_views.py) read and write the C++ objects in place.
// Option names here are the C++ ones ("beta1"/"beta2"); kiln.optim maps torch's onto them.
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "optim_binding.h"

namespace kiln::python {

namespace {

using optim::GroupOptions;
using optim::Optimizer;
using optim::ParamGroup;
using optim::ParamState;

using OptionMap = std::map<std::string, double>;
using GroupSpec = std::pair<std::vector<Tensor>, OptionMap>;

ParamGroup make_group(GroupSpec spec) {
  GroupOptions options;
  for (const auto& [key, value] : spec.second) options.set(key, value);
  return ParamGroup(std::move(spec.first), std::move(options));
}

std::vector<ParamGroup> make_groups(std::vector<GroupSpec> specs) {
  std::vector<ParamGroup> groups;
  for (auto& spec : specs) groups.push_back(make_group(std::move(spec)));
  return groups;
}

ParamGroup& group_at(Optimizer& opt, int64_t index) {
  auto& groups = opt.param_groups();
  if (index < 0 || size_t(index) >= groups.size()) {
    throw nb::index_error(("parameter group " + std::to_string(index) + " out of range (" +
                           std::to_string(groups.size()) + " groups)")
                              .c_str());
  }
  return groups[size_t(index)];
}

// A flag option reads as a Python bool, any other as a float.
nb::object option_value(const GroupOptions& options, const std::string& key) {
  if (options.is_flag(key)) return nb::bool_(options.flag(key));
  return nb::float_(options.get(key));
}

nb::dict options_dict(const GroupOptions& options) {
  nb::dict out;
  for (const std::string& key : options.keys()) out[key.c_str()] = option_value(options, key);
  return out;
}

// The state of one of the optimizer's parameters (null when it has none and `create` is false);
// `p` not among them is a KeyError, as a missing key of torch's optimizer.state.
ParamState* state_of(Optimizer& opt, const Tensor& p, bool create) {
  if (const ParamState* st = opt.find_state(p)) {
    return const_cast<ParamState*>(st);  // only parameters get state: no need to search
  }
  bool held = false;
  for (const ParamGroup& g : opt.param_groups()) {
    for (const Tensor& q : g.params) held = held || q.is_same(p);
  }
  if (!held) throw nb::key_error("the tensor is not a parameter of this optimizer");
  return create ? &opt.state(p) : nullptr;
}

// Whether the parameter has state worth showing: what Optimizer::state_dict would save.
bool has_state(const ParamState* st) { return st && (!st->buffers.empty() || st->step > 0); }

void bind_optimizer_base(nb::module_& m) {
  nb::class_<Optimizer>(m, "Optimizer")
      .def_prop_ro("name", &Optimizer::name)
      // The whole update is one C++ call. It keeps the GIL: other Python threads could otherwise
      // change the groups (add_param_group) or a .grad while the update reads them.
      .def("step", [](Optimizer& o) { o.step(); })
      .def("zero_grad", &Optimizer::zero_grad, "set_to_none"_a = false)
      .def(
          "add_param_group",
          [](Optimizer& o, GroupSpec spec) { o.add_param_group(make_group(std::move(spec))); },
          "group"_a)
      .def("defaults", [](const Optimizer& o) { return options_dict(o.defaults()); })
      .def("group_count", [](const Optimizer& o) { return o.param_groups().size(); })
      .def("group_params", [](Optimizer& o, int64_t g) { return group_at(o, g).params; })
      .def("options", [](Optimizer& o, int64_t g) { return options_dict(group_at(o, g).options); })
      .def("has_option", [](Optimizer& o, int64_t g,
                            const std::string& key) { return group_at(o, g).options.has(key); })
      .def("get_option",
           [](Optimizer& o, int64_t g, const std::string& key) {
             const GroupOptions& options = group_at(o, g).options;
             if (!options.has(key)) throw nb::key_error(key.c_str());
             return option_value(options, key);
           })
      .def("set_option", [](Optimizer& o, int64_t g, const std::string& key,
                            double value) { group_at(o, g).options.set(key, value); })
      .def("erase_option",
           [](Optimizer& o, int64_t g, const std::string& key) {
             KILN_CHECK_VALUE(!o.defaults().has(key), o.name(), ": the option '", key,
                              "' cannot be removed from a parameter group");
             if (!group_at(o, g).options.erase(key)) throw nb::key_error(key.c_str());
           })
      // --- per-parameter state ---
      .def("has_state",
           [](Optimizer& o, const Tensor& p) { return has_state(state_of(o, p, false)); })
      .def("state_step",
           [](Optimizer& o, const Tensor& p) {
             const ParamState* st = state_of(o, p, false);
             return st ? st->step : int64_t(0);
           })
      .def("state_buffers",  // the live buffers, not copies: in-place changes reach the optimizer
           [](Optimizer& o, const Tensor& p) {
             std::map<std::string, Tensor> out;
             if (const ParamState* st = state_of(o, p, false)) out = st->buffers;
             return out;
           })
      .def("set_state_step",
           [](Optimizer& o, const Tensor& p, int64_t step) {
             KILN_CHECK_VALUE(step >= 0, o.name(), ": a step count cannot be negative (got ", step,
                              ")");
             state_of(o, p, true)->step = step;
           })
      .def("set_state_buffer",
           [](Optimizer& o, const Tensor& p, const std::string& name, const Tensor& value) {
             // The updates combine state and parameter in place: they must agree.
             KILN_CHECK_VALUE(value.shape() == p.shape() && value.dtype() == p.dtype() &&
                                  value.device() == p.device(),
                              o.name(), ": the state '", name, "' must have the parameter's shape ",
                              shape_str(p.shape()), ", dtype ", dtype_name(p.dtype()),
                              " and device; got shape ", shape_str(value.shape()), ", dtype ",
                              dtype_name(value.dtype()));
             state_of(o, p, true)->buffers[name] = value.detach();
           })
      .def("erase_state_buffer",
           [](Optimizer& o, const Tensor& p, const std::string& name) {
             ParamState* st = state_of(o, p, false);
             if (!st || st->buffers.erase(name) == 0) throw nb::key_error(name.c_str());
           })
      .def("reset_state", [](Optimizer& o, const Tensor& p) { *state_of(o, p, true) = {}; })
      // --- state dict: (tensors, metadata) in Optimizer::state_dict's flat naming ---
      .def("state_dict",
           [](const Optimizer& o) {
             StateDict sd = o.state_dict();
             nb::dict tensors;
             for (const auto& [name, t] : sd) tensors[name.c_str()] = t;
             return nb::make_tuple(tensors, metadata_to_python(sd));
           })
      .def(
          "load_state_dict",
          [](Optimizer& o, const nb::dict& tensors, const nb::dict& metadata) {
            StateDict sd = metadata_from_python(metadata);
            for (auto [name, t] : tensors)
              sd.insert(nb::cast<std::string>(name), nb::cast<Tensor>(t));
            o.load_state_dict(sd);
          },
          "tensors"_a, "metadata"_a);
}

void bind_concrete_optimizers(nb::module_& m) {
  nb::class_<optim::SGD, Optimizer>(m, "SGD").def(
      "__init__",
      [](optim::SGD* self, std::vector<GroupSpec> groups, double lr, double momentum,
         double dampening, double weight_decay, bool nesterov, std::optional<bool> fused) {
        new (self) optim::SGD(make_groups(std::move(groups)),
                              {lr, momentum, dampening, weight_decay, nesterov, fused});
      },
      "groups"_a, "lr"_a, "momentum"_a, "dampening"_a, "weight_decay"_a, "nesterov"_a,
      "fused"_a = nb::none());

  nb::class_<optim::Adagrad, Optimizer>(m, "Adagrad")
      .def(
          "__init__",
          [](optim::Adagrad* self, std::vector<GroupSpec> groups, double lr, double lr_decay,
             double weight_decay, double initial_accumulator_value, double eps) {
            new (self) optim::Adagrad(make_groups(std::move(groups)),
                                      {lr, lr_decay, weight_decay, initial_accumulator_value, eps});
          },
          "groups"_a, "lr"_a, "lr_decay"_a, "weight_decay"_a, "initial_accumulator_value"_a,
          "eps"_a);

  nb::class_<optim::RMSprop, Optimizer>(m, "RMSprop")
      .def(
          "__init__",
          [](optim::RMSprop* self, std::vector<GroupSpec> groups, double lr, double alpha,
             double eps, double weight_decay, double momentum, bool centered) {
            new (self) optim::RMSprop(make_groups(std::move(groups)),
                                      {lr, alpha, eps, weight_decay, momentum, centered});
          },
          "groups"_a, "lr"_a, "alpha"_a, "eps"_a, "weight_decay"_a, "momentum"_a, "centered"_a);

  nb::class_<optim::Adam, Optimizer>(m, "Adam").def(
      "__init__",
      [](optim::Adam* self, std::vector<GroupSpec> groups, double lr, double beta1, double beta2,
         double eps, double weight_decay, bool amsgrad, std::optional<bool> fused) {
        new (self) optim::Adam(make_groups(std::move(groups)),
                               {lr, {beta1, beta2}, eps, weight_decay, amsgrad, fused});
      },
      "groups"_a, "lr"_a, "beta1"_a, "beta2"_a, "eps"_a, "weight_decay"_a, "amsgrad"_a,
      "fused"_a = nb::none());

  nb::class_<optim::AdamW, optim::Adam>(m, "AdamW")
      .def(
          "__init__",
          [](optim::AdamW* self, std::vector<GroupSpec> groups, double lr, double beta1,
             double beta2, double eps, double weight_decay, bool amsgrad,
             std::optional<bool> fused) {
            new (self) optim::AdamW(make_groups(std::move(groups)),
                                    {lr, {beta1, beta2}, eps, weight_decay, amsgrad, fused});
          },
          "groups"_a, "lr"_a, "beta1"_a, "beta2"_a, "eps"_a, "weight_decay"_a, "amsgrad"_a,
          "fused"_a = nb::none());
}

}  // namespace

void bind_optimizers(nb::module_& m) {
  bind_optimizer_base(m);
  bind_concrete_optimizers(m);
}

}  // namespace kiln::python
