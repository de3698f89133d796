#pragma once
// Learning-rate schedulers, as torch.optim.lr_scheduler (PyTorch 1.13). A scheduler sets the
// "lr" option of every parameter group of its optimizer; call step() once per epoch (OneCycleLR:
// once per batch), after optimizer.step(). Constructing a scheduler already takes its first
// step (epoch 0), like PyTorch. The scheduler keeps a reference to the optimizer, which must
// outlive it.
//
// StepLR, MultiStepLR, ExponentialLR and LinearLR use PyTorch's chainable (recursive) form:
// each step multiplies the group's current lr, so the numbers match PyTorch's to the bit and
// several schedulers can act on one optimizer. CosineAnnealingLR and OneCycleLR are computed
// in closed form from the epoch number.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kiln/io/state_dict.h"
#include "kiln/optim/optimizer.h"

namespace kiln::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  const std::string& name() const { return name_; }
  // Advances one epoch and writes the new lrs into the optimizer's groups.
  void step();
  // The lrs the last step set, one per group.
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  // The groups' "initial_lr" when the scheduler was made (set to their lr if absent).
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  int64_t last_epoch() const { return last_epoch_; }

  // Everything in metadata: "scheduler" -> name, "last_epoch", "_step_count", "base_lrs",
  // "_last_lr" (comma-separated %.17g lists) and the scheduler's own settings ("gamma", ...).
  StateDict state_dict() const;
  // Restores what state_dict() saved (settings included, as PyTorch does). The optimizer's
  // lrs are not touched: they are part of the optimizer's own state dict.
  void load_state_dict(const StateDict& state_dict);

 protected:
  LRScheduler(Optimizer& optimizer, std::string name);
  // Derived constructors end with this: it takes the first step, like PyTorch's constructor.
  void initial_step();
  // The lrs for epoch last_epoch_ (already advanced).
  virtual std::vector<double> get_lr() = 0;
  // The scheduler's own settings and state, for the state dict.
  virtual void save(std::map<std::string, std::string>& meta) const { (void)meta; }
  virtual void load(const std::map<std::string, std::string>& meta) { (void)meta; }
  // The group lrs as they are now.
  std::vector<double> group_lrs() const;

  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  std::vector<double> last_lr_;

 private:
  std::string name_;
};

// lr *= gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  void save(std::map<std::string, std::string>& meta) const override;
  void load(const std::map<std::string, std::string>& meta) override;

 private:
  int64_t step_size_;
  double gamma_;
};

// lr *= gamma at each milestone epoch (a milestone listed twice multiplies by gamma^2).
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  void save(std::map<std::string, std::string>& meta) const override;
  void load(const std::map<std::string, std::string>& meta) override;

 private:
  std::vector<int64_t> milestones_;  // sorted, with repeats
  double gamma_;
};

// lr *= gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> get_lr() override;
  void save(std::map<std::string, std::string>& meta) const override;
  void load(const std::map<std::string, std::string>& meta) override;

 private:
  double gamma_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (closed form; past
// T_max the cosine continues, rising again, as PyTorch's recursive form does).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0);

 protected:
  std::vector<double> get_lr() override;
  void save(std::map<std::string, std::string>& meta) const override;
  void load(const std::map<std::string, std::string>& meta) override;

 private:
  int64_t t_max_;
  double eta_min_;
};

// Warm-up: the lr factor goes linearly from start_factor (epoch 0) to end_factor (epoch
// total_iters) and stays there. Factors must lie in [0, 1]; start_factor must be > 0.
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
           int64_t total_iters = 5);

 protected:
  std::vector<double> get_lr() override;
  void save(std::map<std::string, std::string>& meta) const override;
  void load(const std::map<std::string, std::string>& meta) override;

 private:
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

struct OneCycleLROptions {
  double pct_start = 0.3;               // share of the steps spent raising the lr
  std::string anneal_strategy = "cos";  // "cos" | "linear"
  bool cycle_momentum = true;           // cycle "momentum" or "beta1" inversely to the lr
  double base_momentum = 0.85;
  double max_momentum = 0.95;
  double div_factor = 25;         // initial_lr = max_lr / div_factor
  double final_div_factor = 1e4;  // min_lr = initial_lr / final_div_factor
  bool three_phase = false;
};

// The 1cycle policy, stepped once per batch: the lr rises from max_lr / div_factor to max_lr
// over pct_start of total_steps, then anneals to min_lr (three_phase: back to the initial lr,
// then to min_lr). When the optimizer has a "momentum" option (SGD, RMSprop) or "beta1" (Adam,
// AdamW) and cycle_momentum is set, that option moves inversely between max_momentum and
// base_momentum; an optimizer with neither (Adagrad) has only its lr scheduled. Like PyTorch,
// it writes "initial_lr", "max_lr", "min_lr" (and "max_momentum", "base_momentum") into the
// groups' options. Stepping past total_steps throws.
class OneCycleLR : public LRScheduler {
 public:
  // max_lr: one value for every group, or one per group.
  OneCycleLR(Optimizer& optimizer, std::vector<double> max_lr, int64_t total_steps,
             OneCycleLROptions options = {});
  OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps,
             OneCycleLROptions options = {})
      : OneCycleLR(optimizer, std::vector<double>{max_lr}, total_steps, std::move(options)) {}

 protected:
  std::vector<double> get_lr() override;
  void save(std::map<std::string, std::string>& meta) const override;
  void load(const std::map<std::string, std::string>& meta) override;

 private:
  struct Phase {
    double end_step;
    const char* start_lr;
    const char* end_lr;
    const char* start_momentum;
    const char* end_momentum;
  };
  void make_phases();
  double anneal(double start, double end, double pct) const;

  int64_t total_steps_;
  OneCycleLROptions options_;
  std::string momentum_key_;  // "momentum", "beta1" or empty when not cycled
  std::vector<Phase> phases_;
};

struct ReduceLROnPlateauOptions {
  std::string mode = "min";            // "min": lower metric is better; "max": higher
  double factor = 0.1;                 // new_lr = lr * factor (< 1)
  int64_t patience = 10;               // bad epochs tolerated before reducing
  double threshold = 1e-4;             // what counts as an improvement
  std::string threshold_mode = "rel";  // "rel": best * (1 -/+ threshold); "abs": best -/+ threshold
  int64_t cooldown = 0;                // epochs to wait after a reduction
  std::vector<double> min_lr = {0.0};  // one for all groups, or one per group
  double eps = 1e-8;                   // reductions smaller than this are skipped
};

// Reduces the lrs by `factor` when the metric given to step() has not improved for more than
// `patience` epochs (torch.optim.lr_scheduler.ReduceLROnPlateau).
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {});

  void step(double metric);
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  bool in_cooldown() const { return cooldown_counter_ > 0; }

  StateDict state_dict() const;  // metadata, as LRScheduler's
  void load_state_dict(const StateDict& state_dict);

 private:
  bool is_better(double a, double best) const;
  void check_options() const;

  Optimizer& optimizer_;
  ReduceLROnPlateauOptions options_;
  std::vector<double> min_lrs_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t last_epoch_ = 0;
  std::vector<double> last_lr_;
};

}  // namespace kiln::optim
