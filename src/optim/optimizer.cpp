// The optimizer base: parameter groups, zero_grad/step, and the state dict.
#include "kiln/optim/optimizer.h"

#include <cmath>
#include <set>

#include "io/metadata.h"
#include "kiln/autograd.h"
#include "kiln/ops.h"

namespace kiln::optim {

// ---------------- GroupOptions ----------------

GroupOptions::GroupOptions(std::initializer_list<std::pair<std::string, double>> values) {
  for (const auto& [key, value] : values) set(key, value);
}

double GroupOptions::get(const std::string& key) const {
  auto it = entries_.find(key);
  KILN_CHECK_VALUE(it != entries_.end(), "optimizer: the parameter group has no option '", key,
                   "'");
  return it->second.value;
}

bool GroupOptions::is_flag(const std::string& key) const {
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.is_flag;
}

void GroupOptions::set(const std::string& key, double value) {
  Entry& e = entries_[key];
  e.value = e.is_flag ? double(value != 0) : value;
}

void GroupOptions::set_flag(const std::string& key, bool value) {
  entries_[key] = Entry{value ? 1.0 : 0.0, true};
}

std::vector<std::string> GroupOptions::keys() const {
  std::vector<std::string> k;
  for (const auto& [key, e] : entries_) k.push_back(key);
  return k;
}

Tensor& ParamState::at(const std::string& name) {
  auto it = buffers.find(name);
  KILN_CHECK_VALUE(it != buffers.end(), "optimizer: the parameter state has no '", name, "'");
  return it->second;
}

Tensor& ParamState::buffer(const std::string& name, const Tensor& param) {
  auto it = buffers.find(name);
  if (it == buffers.end()) it = buffers.emplace(name, zeros_like(param.detach())).first;
  return it->second;
}

// ---------------- Optimizer ----------------

Optimizer::Optimizer(std::string name, GroupOptions defaults)
    : name_(std::move(name)), defaults_(std::move(defaults)) {}

void Optimizer::init_groups(std::vector<ParamGroup> groups) {
  size_t count = 0;
  for (const auto& g : groups) count += g.params.size();
  KILN_CHECK_VALUE(count > 0, name_, ": got an empty parameter list");
  for (auto& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  GroupOptions options = defaults_;
  for (const std::string& key : group.options.keys()) {
    if (!defaults_.has(key)) {
      std::string known;
      for (const std::string& k : defaults_.keys()) {
        if (!known.empty()) known += ", ";
        known += k;
      }
      KILN_CHECK_VALUE(false, name_, ": unknown option '", key,
                       "' in a parameter group (options: ", known, ")");
    }
    options.set(key, group.options.get(key));  // keeps flag-ness from the defaults
  }
  validate(options);

  std::set<const TensorImpl*> seen;
  for (const auto& g : groups_)
    for (const auto& p : g.params) seen.insert(p.impl());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    KILN_CHECK_VALUE(p.defined(), name_, ": parameter ", i, " of the group is undefined");
    KILN_CHECK_VALUE(p.is_leaf(), name_, ": can't optimize a non-leaf tensor (parameter ", i,
                     " of the group)");
    KILN_CHECK_VALUE(seen.insert(p.impl()).second, name_,
                     ": some parameters appear more than once in the parameter groups");
  }
  group.options = std::move(options);
  for (const Tensor& p : group.params) {
    ParamState st;
    init_state(group.options, p, st);
    if (!st.buffers.empty()) state_[p.impl()] = std::move(st);
  }
  groups_.push_back(std::move(group));
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (auto& group : groups_) update(group);
}

Tensor Optimizer::step(const std::function<Tensor()>& closure) {
  Tensor loss;
  {
    EnableGradGuard grad_on;
    loss = closure();
  }
  step();
  return loss;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (auto& group : groups_) {
    for (auto& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else if (g.grad_fn() || g.requires_grad()) {
        p.set_grad(zeros_like(g.detach()));  // a gradient with history: cut it, like detach_()
      } else {
        g.zero_();
      }
    }
  }
}

const ParamState* Optimizer::find_state(const Tensor& param) const {
  auto it = state_.find(param.impl());
  return it == state_.end() ? nullptr : &it->second;
}

StateDict Optimizer::state_dict() const {
  StateDict sd;
  auto& meta = sd.metadata();
  meta["optimizer"] = name_;
  int64_t index = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    const GroupOptions& options = groups_[g].options;
    for (const std::string& key : options.keys()) {
      meta[prefix + key] = options.is_flag(key) ? (options.flag(key) ? "true" : "false")
                                                : io::format_double(options.get(key));
    }
    std::vector<int64_t> indices;
    for (const Tensor& p : groups_[g].params) {
      indices.push_back(index);
      const ParamState* st = find_state(p);
      if (st && (!st->buffers.empty() || st->step > 0)) {
        const std::string sp = "state." + std::to_string(index) + ".";
        for (const auto& [name, t] : st->buffers) sd.insert(sp + name, t.detach().clone());
        // PyTorch 1.13 keeps the step as a 0-d float32 tensor (exact up to 2^24 steps).
        if (counts_steps()) sd.insert(sp + "step", scalar_tensor(double(st->step), DType::Float32));
      }
      ++index;
    }
    meta[prefix + "params"] = io::format_ints(indices);
  }
  return sd;
}

void Optimizer::load_state_dict(const StateDict& sd) {
  const auto& meta = sd.metadata();
  const std::string who = name_ + ".load_state_dict";
  const std::string& saved_name = io::required(meta, "optimizer", who);
  KILN_CHECK_VALUE(saved_name == name_, who, ": the state dict was saved by ", saved_name, ", not ",
                   name_);
  size_t saved_groups = 0;
  while (meta.count("param_groups." + std::to_string(saved_groups) + ".params")) ++saved_groups;
  KILN_CHECK_VALUE(saved_groups == groups_.size(), who, ": the state dict has ", saved_groups,
                   " parameter groups, the optimizer has ", groups_.size());

  // Check everything before changing anything.
  std::vector<GroupOptions> options(groups_.size());
  size_t total = 0;
  for (const ParamGroup& g : groups_) total += g.params.size();
  std::vector<Tensor> params(total);  // by saved index: a permutation of [0, total)
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    std::vector<int64_t> indices = io::parse_ints(prefix + "params", meta.at(prefix + "params"));
    KILN_CHECK_VALUE(indices.size() == groups_[g].params.size(), who, ": parameter group ", g,
                     " has ", indices.size(), " parameters in the state dict, ",
                     groups_[g].params.size(), " in the optimizer");
    for (size_t i = 0; i < indices.size(); ++i) {
      KILN_CHECK_VALUE(
          indices[i] >= 0 && size_t(indices[i]) < total && !params[size_t(indices[i])].defined(),
          who, ": bad or repeated parameter index ", indices[i], " in ", prefix,
          "params (expected each of 0..", total - 1, " once)");
      params[size_t(indices[i])] = groups_[g].params[i];
    }
    options[g] = groups_[g].options;
    for (auto it = meta.lower_bound(prefix); it != meta.end() && it->first.starts_with(prefix);
         ++it) {
      const std::string key = it->first.substr(prefix.size());
      if (key == "params") continue;
      if (it->second == "true" || it->second == "false") {
        options[g].set_flag(key, it->second == "true");
      } else {
        options[g].set(key, io::parse_double(it->first, it->second));
      }
    }
    validate(options[g]);
  }

  std::unordered_map<const TensorImpl*, ParamState> state;
  for (const auto& [key, t] : sd) {
    KILN_CHECK_VALUE(key.starts_with("state."), who, ": unexpected tensor '", key, "'");
    size_t dot = key.find('.', 6);
    KILN_CHECK_VALUE(dot != std::string::npos && dot + 1 < key.size(), who,
                     ": malformed state key '", key, "'");
    int64_t index = io::parse_int(key, key.substr(6, dot - 6));
    KILN_CHECK_VALUE(index >= 0 && size_t(index) < params.size() && params[size_t(index)].defined(),
                     who, ": '", key, "' names no parameter of the optimizer");
    const Tensor& p = params[size_t(index)];
    const std::string name = key.substr(dot + 1);
    ParamState& st = state[p.impl()];
    if (name == "step") {
      KILN_CHECK_VALUE(t.numel() == 1, who, ": '", key, "' should hold one number");
      st.step = std::llround(t.item());
    } else {
      KILN_CHECK_VALUE(t.shape() == p.shape(), who, ": '", key, "' has shape ",
                       shape_str(t.shape()), ", the parameter ", shape_str(p.shape()));
      // Floating state follows its parameter's dtype and device, as in PyTorch.
      Tensor v = t.detach();
      if (is_floating(p.dtype()) && is_floating(v.dtype()))
        v = v.to(p.device(), p.dtype());
      else
        v = v.to(p.device());
      st.buffers[name] = v.clone();
    }
  }

  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].options = std::move(options[g]);
  state_ = std::move(state);
}

}  // namespace kiln::optim
