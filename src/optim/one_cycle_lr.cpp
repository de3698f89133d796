// OneCycleLR: the 1cycle policy (torch.optim.lr_scheduler.OneCycleLR, PyTorch 1.13), with the
// momentum (or Adam's beta1) cycled inversely to the learning rate.
#include <cmath>
#include <numbers>

#include "io/metadata.h"
#include "kiln/optim/lr_scheduler.h"

namespace kiln::optim {

using io::format_double;
using io::Metadata;
using io::parse_double;
using io::required;

namespace {
void check_one_cycle(const OneCycleLROptions& o, int64_t total_steps, const std::string& who) {
  KILN_CHECK_VALUE(total_steps > 0, who, ": expected a positive total_steps, got ", total_steps);
  KILN_CHECK_VALUE(o.pct_start >= 0 && o.pct_start <= 1, who,
                   ": expected pct_start between 0 and 1, got ", o.pct_start);
  KILN_CHECK_VALUE(o.anneal_strategy == "cos" || o.anneal_strategy == "linear", who,
                   ": anneal_strategy must be 'cos' or 'linear', got '", o.anneal_strategy, "'");
}

std::vector<double> per_group(const std::vector<double>& values, size_t groups, const char* what) {
  if (values.size() == 1) return std::vector<double>(groups, values[0]);
  KILN_CHECK_VALUE(values.size() == groups, "OneCycleLR: expected ", groups, " values for ", what,
                   ", got ", values.size());
  return values;
}

// Writes the groups' "initial_lr", "max_lr" and "min_lr" before the base constructor reads
// "initial_lr", as PyTorch orders it.
Optimizer& set_cycle_lrs(Optimizer& optimizer, const std::vector<double>& max_lr,
                         int64_t total_steps, const OneCycleLROptions& o) {
  check_one_cycle(o, total_steps, "OneCycleLR");
  auto& groups = optimizer.param_groups();
  std::vector<double> max_lrs = per_group(max_lr, groups.size(), "max_lr");
  for (size_t i = 0; i < groups.size(); ++i) {
    GroupOptions& g = groups[i].options;
    g.set("initial_lr", max_lrs[i] / o.div_factor);
    g.set("max_lr", max_lrs[i]);
    g.set("min_lr", g.get("initial_lr") / o.final_div_factor);
  }
  return optimizer;
}
}  // namespace

OneCycleLR::OneCycleLR(Optimizer& optimizer, std::vector<double> max_lr, int64_t total_steps,
                       OneCycleLROptions options)
    : LRScheduler(set_cycle_lrs(optimizer, max_lr, total_steps, options), "OneCycleLR"),
      total_steps_(total_steps),
      options_(std::move(options)) {
  if (options_.cycle_momentum) {
    const GroupOptions& d = optimizer_.defaults();
    momentum_key_ = d.has("beta1") ? "beta1" : d.has("momentum") ? "momentum" : "";
  }
  if (!momentum_key_.empty()) {
    for (auto& group : optimizer_.param_groups()) {
      group.options.set(momentum_key_, options_.max_momentum);
      group.options.set("max_momentum", options_.max_momentum);
      group.options.set("base_momentum", options_.base_momentum);
    }
  }
  make_phases();
  initial_step();
}

void OneCycleLR::make_phases() {
  const double total = double(total_steps_);
  const double pct = options_.pct_start;
  if (options_.three_phase) {
    phases_ = {
        {pct * total - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
        {2 * pct * total - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"},
        {total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"},
    };
  } else {
    phases_ = {
        {pct * total - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
        {total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"},
    };
  }
  // A phase of zero length would divide 0 by 0 (PyTorch raises ZeroDivisionError there).
  double start = 0;
  for (const Phase& p : phases_) {
    KILN_CHECK_VALUE(p.end_step > start || (&p == &phases_.front() && p.end_step > 0),
                     "OneCycleLR: total_steps=", total_steps_, " with pct_start=", pct,
                     " leaves a phase without steps; use more steps or another pct_start");
    start = p.end_step;
  }
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (options_.anneal_strategy == "cos") {
    const double cos_out = std::cos(std::numbers::pi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
  }
  return (end - start) * pct + start;
}

std::vector<double> OneCycleLR::get_lr() {
  const int64_t step_num = last_epoch_;
  KILN_CHECK_VALUE(step_num <= total_steps_, "OneCycleLR: tried to step ", step_num + 1,
                   " times; the specified number of total steps is ", total_steps_);
  std::vector<double> lrs;
  for (auto& group : optimizer_.param_groups()) {
    GroupOptions& g = group.options;
    double start_step = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& phase = phases_[i];
      if (double(step_num) <= phase.end_step || i + 1 == phases_.size()) {
        const double pct = (double(step_num) - start_step) / (phase.end_step - start_step);
        lrs.push_back(anneal(g.get(phase.start_lr), g.get(phase.end_lr), pct));
        if (!momentum_key_.empty()) {
          g.set(momentum_key_, anneal(g.get(phase.start_momentum), g.get(phase.end_momentum), pct));
        }
        break;
      }
      start_step = phase.end_step;
    }
  }
  return lrs;
}

void OneCycleLR::save(Metadata& meta) const {
  meta["total_steps"] = io::format_int(total_steps_);
  meta["pct_start"] = format_double(options_.pct_start);
  meta["anneal_strategy"] = options_.anneal_strategy;
  meta["cycle_momentum"] = options_.cycle_momentum ? "true" : "false";
  meta["base_momentum"] = format_double(options_.base_momentum);
  meta["max_momentum"] = format_double(options_.max_momentum);
  meta["div_factor"] = format_double(options_.div_factor);
  meta["final_div_factor"] = format_double(options_.final_div_factor);
  meta["three_phase"] = options_.three_phase ? "true" : "false";
  meta["momentum_key"] = momentum_key_;
}

void OneCycleLR::load(const Metadata& meta) {
  const std::string who = "OneCycleLR.load_state_dict";
  auto get = [&](const char* key) -> const std::string& { return required(meta, key, who); };
  OneCycleLROptions o;
  const int64_t total_steps = io::parse_int("total_steps", get("total_steps"));
  o.pct_start = parse_double("pct_start", get("pct_start"));
  o.anneal_strategy = get("anneal_strategy");
  o.cycle_momentum = get("cycle_momentum") == "true";
  o.base_momentum = parse_double("base_momentum", get("base_momentum"));
  o.max_momentum = parse_double("max_momentum", get("max_momentum"));
  o.div_factor = parse_double("div_factor", get("div_factor"));
  o.final_div_factor = parse_double("final_div_factor", get("final_div_factor"));
  o.three_phase = get("three_phase") == "true";
  const std::string& key = get("momentum_key");
  KILN_CHECK_VALUE(key.empty() || key == "beta1" || key == "momentum", who, ": bad momentum_key '",
                   key, "'");
  check_one_cycle(o, total_steps, who);
  total_steps_ = total_steps;
  options_ = std::move(o);
  momentum_key_ = key;
  make_phases();
}

}  // namespace kiln::optim
