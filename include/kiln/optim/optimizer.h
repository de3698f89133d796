#pragma once
// kiln::optim::Optimizer, the base of the optimizers. As in PyTorch, parameters live in groups;
// each group carries its own options (a name -> number map, the C++ form of PyTorch's
// param_group dict: "lr", "momentum", "beta1", ...) completed from the constructor's defaults,
// and each parameter has its own state (momentum buffers, moment estimates, a step count).
// Schedulers read and write the group options; state_dict() saves both as a StateDict.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kiln/io/state_dict.h"
#include "kiln/tensor.h"

namespace kiln::optim {

// Named numeric options of one parameter group. A "flag" is a boolean option (nesterov,
// amsgrad, centered); it is stored as 0/1 and saved as "true"/"false".
class GroupOptions {
 public:
  GroupOptions() = default;
  // Overrides for a group: {{"lr", 0.01}, {"momentum", 0.9}}. Values given for a flag option
  // are read as true when non-zero.
  GroupOptions(std::initializer_list<std::pair<std::string, double>> values);  // NOLINT

  bool has(const std::string& key) const { return entries_.count(key) > 0; }
  // Throws kiln::ValueError naming the key when it is missing.
  double get(const std::string& key) const;
  bool flag(const std::string& key) const { return get(key) != 0; }
  bool is_flag(const std::string& key) const;
  // Sets a number; an existing entry keeps its kind (a flag stays a flag).
  void set(const std::string& key, double value);
  void set_flag(const std::string& key, bool value);
  bool erase(const std::string& key) { return entries_.erase(key) > 0; }
  std::vector<std::string> keys() const;  // sorted
  size_t size() const { return entries_.size(); }

  double lr() const { return get("lr"); }
  void set_lr(double lr) { set("lr", lr); }

 private:
  struct Entry {
    double value = 0;
    bool is_flag = false;
  };
  std::map<std::string, Entry> entries_;
};

// Parameters optimized with the same options. Given to a constructor or add_param_group,
// `options` holds only the overrides; the optimizer fills in the rest from its defaults.
struct ParamGroup {
  ParamGroup() = default;
  ParamGroup(std::vector<Tensor> params, GroupOptions options = {})  // NOLINT
      : params(std::move(params)), options(std::move(options)) {}

  std::vector<Tensor> params;
  GroupOptions options;
};

// Per-parameter state: the step count (for optimizers that keep one) and named buffers with
// the parameter's shape ("momentum_buffer", "exp_avg", "exp_avg_sq", ...).
struct ParamState {
  int64_t step = 0;
  std::map<std::string, Tensor> buffers;

  bool has(const std::string& name) const { return buffers.count(name) > 0; }
  Tensor& at(const std::string& name);  // throws naming the missing buffer
  // The buffer `name`, created as zeros like `param` when missing.
  Tensor& buffer(const std::string& name, const Tensor& param);
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  Optimizer(Optimizer&&) = default;
  Optimizer& operator=(Optimizer&&) = default;

  const std::string& name() const { return name_; }

  // One update of every parameter that has a gradient (parameters without one are skipped),
  // in place and without recording history.
  void step();
  // Re-evaluates the loss with grad mode on (closure usually zeroes grads, runs forward and
  // backward), then steps; returns the closure's loss.
  Tensor step(const std::function<Tensor()>& closure);
  // Resets every parameter's gradient: to undefined (set_to_none) or to zeros.
  void zero_grad(bool set_to_none = false);  // PyTorch 1.13's default

  // Adds a group; options it does not set come from the constructor's defaults. Unknown
  // option names, non-leaf tensors and parameters already in a group are refused.
  void add_param_group(ParamGroup group);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const GroupOptions& defaults() const { return defaults_; }

  // The state of one parameter (empty until its first step, except for Adagrad).
  ParamState& state(const Tensor& param) { return state_[param.impl()]; }
  const ParamState* find_state(const Tensor& param) const;

  // A snapshot (the tensors are copies):
  //   tensors   "state.<i>.<buffer>", "state.<i>.step" (0-d float32, as PyTorch 1.13), where i
  //             counts parameters across groups in order;
  //   metadata  "optimizer" -> name, "param_groups.<g>.<option>" -> value (%.17g, flags
  //             "true"/"false"), "param_groups.<g>.params" -> "0,1,2".
  StateDict state_dict() const;
  // Restores options and state saved by the same kind of optimizer with groups of the same
  // sizes. State tensors are copied and cast to their parameter's dtype and device, so the run
  // continues bit-identically.
  void load_state_dict(const StateDict& state_dict);

 protected:
  // Derived constructors add their groups (add_param_group, or init_groups) once constructed.
  Optimizer(std::string name, GroupOptions defaults);
  // Adds the constructor's groups; refuses an empty parameter list like PyTorch.
  void init_groups(std::vector<ParamGroup> groups);

  // Updates the parameters of one group; runs with grad mode off.
  virtual void update(ParamGroup& group) = 0;
  // Checks a completed group's options (non-negative lr, ...); throws kiln::ValueError.
  virtual void validate(const GroupOptions& options) const { (void)options; }
  // Called for each parameter of a group when the group is added (Adagrad's eager state).
  virtual void init_state(const GroupOptions& options, const Tensor& param, ParamState& state) {
    (void)options, (void)param, (void)state;
  }
  // Whether state_dict() saves a step count per parameter.
  virtual bool counts_steps() const { return true; }

 private:
  std::string name_;
  GroupOptions defaults_;
  std::vector<ParamGroup> groups_;
  std::unordered_map<const TensorImpl*, ParamState> state_;
};

}  // namespace kiln::optim
