// The scheduler base and the epoch-wise schedules (StepLR, MultiStepLR, ExponentialLR,
// CosineAnnealingLR, LinearLR), following torch.optim.lr_scheduler of PyTorch 1.13.
#include "kiln/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "io/metadata.h"

namespace kiln::optim {

using io::format_double;
using io::format_int;
using io::Metadata;
using io::parse_double;
using io::parse_int;
using io::required;

// ---------------- LRScheduler ----------------

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name)
    : optimizer_(optimizer), name_(std::move(name)) {
  // As PyTorch: the first scheduler records each group's starting lr as "initial_lr"; later
  // ones (chained) start from that same value.
  for (auto& group : optimizer_.param_groups()) {
    if (!group.options.has("initial_lr")) group.options.set("initial_lr", group.options.lr());
    base_lrs_.push_back(group.options.get("initial_lr"));
  }
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

std::vector<double> LRScheduler::group_lrs() const {
  std::vector<double> lrs;
  for (const auto& group : optimizer_.param_groups()) lrs.push_back(group.options.lr());
  return lrs;
}

void LRScheduler::step() {
  ++step_count_;
  ++last_epoch_;
  std::vector<double> lrs = get_lr();
  auto& groups = optimizer_.param_groups();
  KILN_CHECK(lrs.size() == groups.size(), name_, ": computed ", lrs.size(), " lrs for ",
             groups.size(), " parameter groups (was a group added after the scheduler?)");
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options.set_lr(lrs[i]);
  last_lr_ = group_lrs();
}

StateDict LRScheduler::state_dict() const {
  StateDict sd;
  auto& meta = sd.metadata();
  meta["scheduler"] = name_;
  meta["last_epoch"] = format_int(last_epoch_);
  meta["_step_count"] = format_int(step_count_);
  meta["base_lrs"] = io::format_doubles(base_lrs_);
  meta["_last_lr"] = io::format_doubles(last_lr_);
  save(meta);
  return sd;
}

void LRScheduler::load_state_dict(const StateDict& sd) {
  const Metadata& meta = sd.metadata();
  const std::string who = name_ + ".load_state_dict";
  const std::string& saved = required(meta, "scheduler", who);
  KILN_CHECK_VALUE(saved == name_, who, ": the state dict was saved by ", saved, ", not ", name_);
  const int64_t last_epoch = parse_int("last_epoch", required(meta, "last_epoch", who));
  const int64_t step_count = parse_int("_step_count", required(meta, "_step_count", who));
  std::vector<double> base_lrs = io::parse_doubles("base_lrs", required(meta, "base_lrs", who));
  std::vector<double> last_lr = io::parse_doubles("_last_lr", required(meta, "_last_lr", who));
  load(meta);
  last_epoch_ = last_epoch;
  step_count_ = step_count;
  base_lrs_ = std::move(base_lrs);
  last_lr_ = std::move(last_lr);
}

// ---------------- StepLR ----------------

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  KILN_CHECK_VALUE(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  initial_step();
}

std::vector<double> StepLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
  for (double& lr : lrs) lr *= gamma_;
  return lrs;
}

void StepLR::save(Metadata& meta) const {
  meta["step_size"] = format_int(step_size_);
  meta["gamma"] = format_double(gamma_);
}

void StepLR::load(const Metadata& meta) {
  const std::string who = "StepLR.load_state_dict";
  int64_t step_size = parse_int("step_size", required(meta, "step_size", who));
  KILN_CHECK_VALUE(step_size > 0, who, ": step_size must be positive, got ", step_size);
  const double gamma = parse_double("gamma", required(meta, "gamma", who));
  step_size_ = step_size;  // assigned only once everything parsed: a failed load changes nothing
  gamma_ = gamma;
}

// ---------------- MultiStepLR ----------------

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(optimizer, "MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
  initial_step();
}

std::vector<double> MultiStepLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  auto hits = std::count(milestones_.begin(), milestones_.end(), last_epoch_);
  if (hits == 0) return lrs;
  // gamma ** count, as Python's float power (pow) computes it.
  const double factor = std::pow(gamma_, double(hits));
  for (double& lr : lrs) lr *= factor;
  return lrs;
}

void MultiStepLR::save(Metadata& meta) const {
  meta["milestones"] = io::format_ints(milestones_);
  meta["gamma"] = format_double(gamma_);
}

void MultiStepLR::load(const Metadata& meta) {
  const std::string who = "MultiStepLR.load_state_dict";
  std::vector<int64_t> milestones = io::parse_ints("milestones", required(meta, "milestones", who));
  std::sort(milestones.begin(), milestones.end());
  gamma_ = parse_double("gamma", required(meta, "gamma", who));
  milestones_ = std::move(milestones);
}

// ---------------- ExponentialLR ----------------

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler(optimizer, "ExponentialLR"), gamma_(gamma) {
  initial_step();
}

std::vector<double> ExponentialLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) return lrs;
  for (double& lr : lrs) lr *= gamma_;
  return lrs;
}

void ExponentialLR::save(Metadata& meta) const { meta["gamma"] = format_double(gamma_); }

void ExponentialLR::load(const Metadata& meta) {
  gamma_ = parse_double("gamma", required(meta, "gamma", "ExponentialLR.load_state_dict"));
}

// ---------------- CosineAnnealingLR ----------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), t_max_(T_max), eta_min_(eta_min) {
  KILN_CHECK_VALUE(T_max > 0, "CosineAnnealingLR: T_max must be positive, got ", T_max);
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() {
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) {
    lrs.push_back(eta_min_ +
                  (base_lr - eta_min_) *
                      (1 + std::cos(std::numbers::pi * double(last_epoch_) / double(t_max_))) / 2);
  }
  return lrs;
}

void CosineAnnealingLR::save(Metadata& meta) const {
  meta["T_max"] = format_int(t_max_);
  meta["eta_min"] = format_double(eta_min_);
}

void CosineAnnealingLR::load(const Metadata& meta) {
  const std::string who = "CosineAnnealingLR.load_state_dict";
  int64_t t_max = parse_int("T_max", required(meta, "T_max", who));
  KILN_CHECK_VALUE(t_max > 0, who, ": T_max must be positive, got ", t_max);
  const double eta_min = parse_double("eta_min", required(meta, "eta_min", who));
  t_max_ = t_max;  // assigned only once everything parsed: a failed load changes nothing
  eta_min_ = eta_min;
}

// ---------------- LinearLR ----------------

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor,
                   int64_t total_iters)
    : LRScheduler(optimizer, "LinearLR"),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  KILN_CHECK_VALUE(start_factor > 0 && start_factor <= 1,
                   "LinearLR: start_factor must be in (0, 1], got ", start_factor);
  KILN_CHECK_VALUE(end_factor >= 0 && end_factor <= 1,
                   "LinearLR: end_factor must be in [0, 1], got ", end_factor);
  KILN_CHECK_VALUE(total_iters > 0, "LinearLR: total_iters must be positive, got ", total_iters);
  initial_step();
}

std::vector<double> LinearLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr *= start_factor_;
    return lrs;
  }
  if (last_epoch_ > total_iters_) return lrs;
  // The ratio of consecutive factors, exactly as PyTorch's chainable form computes it.
  const double ratio = 1. + (end_factor_ - start_factor_) /
                                (double(total_iters_) * start_factor_ +
                                 double(last_epoch_ - 1) * (end_factor_ - start_factor_));
  for (double& lr : lrs) lr *= ratio;
  return lrs;
}

void LinearLR::save(Metadata& meta) const {
  meta["start_factor"] = format_double(start_factor_);
  meta["end_factor"] = format_double(end_factor_);
  meta["total_iters"] = format_int(total_iters_);
}

void LinearLR::load(const Metadata& meta) {
  const std::string who = "LinearLR.load_state_dict";
  double start = parse_double("start_factor", required(meta, "start_factor", who));
  double end = parse_double("end_factor", required(meta, "end_factor", who));
  int64_t total = parse_int("total_iters", required(meta, "total_iters", who));
  KILN_CHECK_VALUE(start > 0 && start <= 1 && end >= 0 && end <= 1 && total > 0, who,
                   ": invalid factors or total_iters");
  start_factor_ = start;
  end_factor_ = end;
  total_iters_ = total;
}

}  // namespace kiln::optim
