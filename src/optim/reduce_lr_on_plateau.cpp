// ReduceLROnPlateau: lowers the learning rates when a metric stops improving
// (torch.optim.lr_scheduler.ReduceLROnPlateau, PyTorch 1.13).
#include <algorithm>
#include <cmath>
#include <limits>

#include "io/metadata.h"
#include "kiln/optim/lr_scheduler.h"

namespace kiln::optim {

using io::format_double;
using io::format_int;
using io::parse_double;
using io::parse_int;

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options)
    : optimizer_(optimizer), options_(std::move(options)) {
  check_options();
  const size_t groups = optimizer_.param_groups().size();
  if (options_.min_lr.size() == 1) {
    min_lrs_.assign(groups, options_.min_lr[0]);
  } else {
    KILN_CHECK_VALUE(options_.min_lr.size() == groups, "ReduceLROnPlateau: expected ", groups,
                     " min_lrs, got ", options_.min_lr.size());
    min_lrs_ = options_.min_lr;
  }
  best_ = options_.mode == "min" ? std::numeric_limits<double>::infinity()
                                 : -std::numeric_limits<double>::infinity();
  for (const auto& group : optimizer_.param_groups()) last_lr_.push_back(group.options.lr());
}

void ReduceLROnPlateau::check_options() const {
  const std::string who = "ReduceLROnPlateau";
  KILN_CHECK_VALUE(options_.factor < 1.0, who, ": factor should be < 1.0, got ", options_.factor);
  KILN_CHECK_VALUE(options_.mode == "min" || options_.mode == "max", who,
                   ": mode must be 'min' or 'max', got '", options_.mode, "'");
  KILN_CHECK_VALUE(options_.threshold_mode == "rel" || options_.threshold_mode == "abs", who,
                   ": threshold_mode must be 'rel' or 'abs', got '", options_.threshold_mode, "'");
  KILN_CHECK_VALUE(!options_.min_lr.empty(), who, ": min_lr needs at least one value");
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  const bool rel = options_.threshold_mode == "rel";
  if (options_.mode == "min") {
    return rel ? a < best * (1. - options_.threshold) : a < best - options_.threshold;
  }
  return rel ? a > best * (options_.threshold + 1.) : a > best + options_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  last_epoch_ += 1;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    num_bad_epochs_ += 1;
  }
  if (in_cooldown()) {
    cooldown_counter_ -= 1;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  auto& groups = optimizer_.param_groups();
  if (num_bad_epochs_ > options_.patience) {
    KILN_CHECK(groups.size() == min_lrs_.size(), "ReduceLROnPlateau: the optimizer has ",
               groups.size(), " parameter groups, the scheduler was made for ", min_lrs_.size());
    for (size_t i = 0; i < groups.size(); ++i) {
      const double old_lr = groups[i].options.lr();
      const double new_lr = std::max(old_lr * options_.factor, min_lrs_[i]);
      if (old_lr - new_lr > options_.eps) groups[i].options.set_lr(new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_.clear();
  for (const auto& group : groups) last_lr_.push_back(group.options.lr());
}

StateDict ReduceLROnPlateau::state_dict() const {
  StateDict sd;
  auto& meta = sd.metadata();
  meta["scheduler"] = "ReduceLROnPlateau";
  meta["mode"] = options_.mode;
  meta["factor"] = format_double(options_.factor);
  meta["patience"] = format_int(options_.patience);
  meta["threshold"] = format_double(options_.threshold);
  meta["threshold_mode"] = options_.threshold_mode;
  meta["cooldown"] = format_int(options_.cooldown);
  meta["min_lrs"] = io::format_doubles(min_lrs_);
  meta["eps"] = format_double(options_.eps);
  meta["best"] = format_double(best_);
  meta["num_bad_epochs"] = format_int(num_bad_epochs_);
  meta["cooldown_counter"] = format_int(cooldown_counter_);
  meta["last_epoch"] = format_int(last_epoch_);
  meta["_last_lr"] = io::format_doubles(last_lr_);
  return sd;
}

void ReduceLROnPlateau::load_state_dict(const StateDict& sd) {
  const auto& meta = sd.metadata();
  const std::string who = "ReduceLROnPlateau.load_state_dict";
  auto get = [&](const char* key) -> const std::string& { return io::required(meta, key, who); };
  KILN_CHECK_VALUE(get("scheduler") == "ReduceLROnPlateau", who, ": the state dict was saved by ",
                   get("scheduler"), ", not ReduceLROnPlateau");
  ReduceLROnPlateauOptions o;
  o.mode = get("mode");
  o.factor = parse_double("factor", get("factor"));
  o.patience = parse_int("patience", get("patience"));
  o.threshold = parse_double("threshold", get("threshold"));
  o.threshold_mode = get("threshold_mode");
  o.cooldown = parse_int("cooldown", get("cooldown"));
  o.min_lr = io::parse_doubles("min_lrs", get("min_lrs"));
  o.eps = parse_double("eps", get("eps"));
  const double best = parse_double("best", get("best"));
  const int64_t bad = parse_int("num_bad_epochs", get("num_bad_epochs"));
  const int64_t cooldown_counter = parse_int("cooldown_counter", get("cooldown_counter"));
  const int64_t last_epoch = parse_int("last_epoch", get("last_epoch"));
  std::vector<double> last_lr = io::parse_doubles("_last_lr", get("_last_lr"));

  std::swap(options_, o);
  try {
    check_options();
  } catch (...) {
    std::swap(options_, o);
    throw;
  }
  min_lrs_ = options_.min_lr;
  best_ = best;
  num_bad_epochs_ = bad;
  cooldown_counter_ = cooldown_counter;
  last_epoch_ = last_epoch;
  last_lr_ = std::move(last_lr);
}

}  // namespace kiln::optim
