#pragma once
// Normalisation layers with the semantics of torch.nn (PyTorch 1.13): batch_norm, group_norm and
// instance_norm, and the modules BatchNorm1d/2d/3d, GroupNorm and InstanceNorm2d.
//
// The functions are composites of Kiln ops (mean, var, rsqrt, broadcasting arithmetic), so they
// record autograd history (double backward included) and run on any backend; batch_norm runs the
// fused batch_norm op (one kernel each way, double backward through ops) whenever its dtypes
// allow, with the composite as its oracle. Running statistics are updated in place without
// autograd history. Bad arguments raise kiln::ValueError naming the function and the shapes;
// non-floating point inputs raise kiln::TypeError.
#include <cstdint>
#include <optional>
#include <string>

#include "kiln/nn/module.h"
#include "kiln/tensor.h"

namespace kiln::nn::functional {

// input [N, C, *] (2-D [N, C], 3-D [N, C, L], 4-D, 5-D, ...). running_mean / running_var, weight
// and bias: [C] or undefined. With `training`, the input is normalised with the batch statistics
// (mean and biased variance over every dimension but 1); when the running statistics are defined
// they are updated in place, without autograd:
//   running = (1 - momentum) * running + momentum * batch_statistic
// the variance entering the running average being the unbiased one (n / (n - 1)). Without
// `momentum` (std::nullopt) the update factor is 0, i.e. the running statistics are left as they
// are (torch's modules pass 1 / num_batches_tracked for momentum=None; BatchNorm below does).
// In evaluation (training = false) the running statistics normalise and must be defined.
// Training with a single value per channel is an error, as in torch.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = {}, const Tensor& bias = {}, bool training = false,
                  std::optional<double> momentum = 0.1, double eps = 1e-5);

// input [N, C, *]; the channels are split into num_groups groups (C must be divisible by it) and
// each (sample, group) is normalised over its channels and spatial positions (biased variance);
// weight / bias [C] (or undefined) are then applied per channel.
Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);

// input [N, C, *]: each (sample, channel) is normalised over its spatial positions. With
// use_input_stats the instance statistics are used and defined running statistics [C] are
// updated with the average over the batch of the instance means / unbiased variances; without,
// the running statistics normalise (they must be defined). weight / bias: [C] or undefined.
Tensor instance_norm(const Tensor& input, const Tensor& running_mean = {},
                     const Tensor& running_var = {}, const Tensor& weight = {},
                     const Tensor& bias = {}, bool use_input_stats = true,
                     std::optional<double> momentum = 0.1, double eps = 1e-5);

}  // namespace kiln::nn::functional

namespace kiln::nn {

// Shared by BatchNorm1d/2d/3d and InstanceNorm2d (torch's _NormBase). Parameters weight (ones)
// and bias (zeros) [num_features] when affine; buffers running_mean (zeros), running_var (ones)
// [num_features] and num_batches_tracked (int64, 0-d) when track_running_stats.
class NormBase : public Module {
 public:
  NormBase(std::string name, int64_t num_features, double eps, std::optional<double> momentum,
           bool affine, bool track_running_stats);
  std::string extra_repr() const override;
  // Running statistics back to zeros / ones and num_batches_tracked to 0.
  void reset_running_stats();
  // reset_running_stats, then weight to ones and bias to zeros.
  void reset_parameters();

  int64_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  std::optional<double> momentum() const { return momentum_; }
  bool affine() const { return affine_; }
  bool track_running_stats() const { return track_running_stats_; }

  Tensor weight;               // undefined unless affine
  Tensor bias;                 // undefined unless affine
  Tensor running_mean;         // undefined unless track_running_stats
  Tensor running_var;          // undefined unless track_running_stats
  Tensor num_batches_tracked;  // undefined unless track_running_stats

 protected:
  int64_t num_features_;
  double eps_;
  std::optional<double> momentum_;
  bool affine_;
  bool track_running_stats_;
};

// torch's _BatchNorm. In training with track_running_stats, num_batches_tracked is incremented
// and the running statistics updated with momentum (or, without momentum, 1 / num_batches_tracked:
// a cumulative average). In evaluation the running statistics normalise (the batch statistics
// when the module does not track them).
class BatchNormBase : public NormBase {
 public:
  using NormBase::NormBase;
  Tensor forward(const Tensor& input) override;

 protected:
  virtual void check_input_dim(const Tensor& input) const = 0;
};

// Input [N, C] or [N, C, L]: "expected 2D or 3D input (got 4D input)" otherwise.
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5,
                       std::optional<double> momentum = 0.1, bool affine = true,
                       bool track_running_stats = true);

 protected:
  void check_input_dim(const Tensor& input) const override;
};

// Input [N, C, H, W].
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5,
                       std::optional<double> momentum = 0.1, bool affine = true,
                       bool track_running_stats = true);

 protected:
  void check_input_dim(const Tensor& input) const override;
};

// Input [N, C, D, H, W].
class BatchNorm3d : public BatchNormBase {
 public:
  explicit BatchNorm3d(int64_t num_features, double eps = 1e-5,
                       std::optional<double> momentum = 0.1, bool affine = true,
                       bool track_running_stats = true);

 protected:
  void check_input_dim(const Tensor& input) const override;
};

// Input [N, C, H, W] or unbatched [C, H, W]. Defaults affine = false, track_running_stats =
// false, as torch. In training, or when not tracking, the instance statistics are used (and
// defined running statistics updated); otherwise the running statistics.
class InstanceNorm2d : public NormBase {
 public:
  explicit InstanceNorm2d(int64_t num_features, double eps = 1e-5,
                          std::optional<double> momentum = 0.1, bool affine = false,
                          bool track_running_stats = false);
  Tensor forward(const Tensor& input) override;
};

// GroupNorm(num_groups, num_channels): weight (ones) and bias (zeros) [num_channels] when affine.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  void reset_parameters();

  int64_t num_groups() const { return num_groups_; }
  int64_t num_channels() const { return num_channels_; }
  double eps() const { return eps_; }
  bool affine() const { return affine_; }

  Tensor weight;
  Tensor bias;

 private:
  int64_t num_groups_;
  int64_t num_channels_;
  double eps_;
  bool affine_;
};

}  // namespace kiln::nn
