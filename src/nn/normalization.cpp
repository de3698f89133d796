// BatchNorm1d/2d/3d, InstanceNorm2d and GroupNorm (torch.nn.modules.batchnorm / instancenorm /
// normalization): parameters, buffers, defaults and repr as PyTorch 1.13, forward through the
// functions of src/nn/functional_norm.cpp.
#include "kiln/nn/normalization.h"

#include <string>

#include "kiln/autograd.h"
#include "kiln/error.h"
#include "kiln/ops.h"

namespace kiln::nn {

namespace F = kiln::nn::functional;

// ---------------- NormBase ----------------

NormBase::NormBase(std::string name, int64_t num_features, double eps,
                   std::optional<double> momentum, bool affine, bool track_running_stats)
    : Module(std::move(name)),
      num_features_(num_features),
      eps_(eps),
      momentum_(momentum),
      affine_(affine),
      track_running_stats_(track_running_stats) {
  KILN_CHECK_VALUE(num_features >= 0, this->name(), ": num_features must be non-negative, got ",
                   num_features);
  weight = register_parameter("weight", affine ? empty({num_features}) : Tensor());
  bias = register_parameter("bias", affine ? empty({num_features}) : Tensor());
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked =
        register_buffer("num_batches_tracked", zeros({}, TensorOptions(DType::Int64)));
  } else {
    running_mean = register_buffer("running_mean", Tensor());
    running_var = register_buffer("running_var", Tensor());
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor());
  }
  reset_parameters();
}

void NormBase::reset_running_stats() {
  if (!track_running_stats_) return;
  NoGradGuard guard;
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
}

void NormBase::reset_parameters() {
  reset_running_stats();
  if (affine_) {
    NoGradGuard guard;
    weight.fill_(1);
    bias.zero_();
  }
}

std::string NormBase::extra_repr() const {
  return std::to_string(num_features_) + ", eps=" + repr_double(eps_) +
         ", momentum=" + (momentum_ ? repr_double(*momentum_) : std::string("None")) +
         ", affine=" + repr_bool(affine_) +
         ", track_running_stats=" + repr_bool(track_running_stats_);
}

// ---------------- BatchNorm ----------------

Tensor BatchNormBase::forward(const Tensor& input) {
  KILN_CHECK_VALUE(input.defined(), name(), ": the input is undefined");
  check_input_dim(input);
  std::optional<double> factor = momentum_.value_or(0.0);
  if (is_training() && track_running_stats_ && num_batches_tracked.defined()) {
    {
      NoGradGuard guard;
      num_batches_tracked.add_(1);
    }
    if (!momentum_) factor = 1.0 / num_batches_tracked.item();
  }
  // Batch statistics in training, or when there are no running statistics to use.
  const bool bn_training = is_training() || (!running_mean.defined() && !running_var.defined());
  const bool use_running = !is_training() || track_running_stats_;
  return F::batch_norm(input, use_running ? running_mean : Tensor(),
                       use_running ? running_var : Tensor(), weight, bias, bn_training, factor,
                       eps_);
}

BatchNorm1d::BatchNorm1d(int64_t num_features, double eps, std::optional<double> momentum,
                         bool affine, bool track_running_stats)
    : BatchNormBase("BatchNorm1d", num_features, eps, momentum, affine, track_running_stats) {}

void BatchNorm1d::check_input_dim(const Tensor& input) const {
  KILN_CHECK_VALUE(input.dim() == 2 || input.dim() == 3,
                   "BatchNorm1d: expected 2D or 3D input (got ", input.dim(), "D input)");
}

BatchNorm2d::BatchNorm2d(int64_t num_features, double eps, std::optional<double> momentum,
                         bool affine, bool track_running_stats)
    : BatchNormBase("BatchNorm2d", num_features, eps, momentum, affine, track_running_stats) {}

void BatchNorm2d::check_input_dim(const Tensor& input) const {
  KILN_CHECK_VALUE(input.dim() == 4, "BatchNorm2d: expected 4D input (got ", input.dim(),
                   "D input)");
}

BatchNorm3d::BatchNorm3d(int64_t num_features, double eps, std::optional<double> momentum,
                         bool affine, bool track_running_stats)
    : BatchNormBase("BatchNorm3d", num_features, eps, momentum, affine, track_running_stats) {}

void BatchNorm3d::check_input_dim(const Tensor& input) const {
  KILN_CHECK_VALUE(input.dim() == 5, "BatchNorm3d: expected 5D input (got ", input.dim(),
                   "D input)");
}

// ---------------- InstanceNorm2d ----------------

InstanceNorm2d::InstanceNorm2d(int64_t num_features, double eps, std::optional<double> momentum,
                               bool affine, bool track_running_stats)
    : NormBase("InstanceNorm2d", num_features, eps, momentum, affine, track_running_stats) {}

Tensor InstanceNorm2d::forward(const Tensor& input) {
  KILN_CHECK_VALUE(input.defined(), "InstanceNorm2d: the input is undefined");
  KILN_CHECK_VALUE(input.dim() == 3 || input.dim() == 4,
                   "InstanceNorm2d: expected 3D or 4D input (got ", input.dim(), "D input)");
  const int64_t feature_dim = input.dim() - 3;
  // torch only warns for a mismatch without affine; the function then fails on running stats
  // of the wrong size, or normalises every channel (nothing per channel to mismatch).
  KILN_CHECK_VALUE(!affine_ || input.size(feature_dim) == num_features_,
                   "InstanceNorm2d: expected input's size at dim=", feature_dim,
                   " to match num_features (", num_features_,
                   "), but got: ", input.size(feature_dim), ".");
  const bool unbatched = input.dim() == 3;
  Tensor x = unbatched ? input.unsqueeze(0) : input;
  Tensor y = F::instance_norm(x, running_mean, running_var, weight, bias,
                              is_training() || !track_running_stats_, momentum_, eps_);
  return unbatched ? y.squeeze(0) : y;
}

// ---------------- GroupNorm ----------------

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine)
    : Module("GroupNorm"),
      num_groups_(num_groups),
      num_channels_(num_channels),
      eps_(eps),
      affine_(affine) {
  KILN_CHECK_VALUE(num_groups > 0 && num_channels >= 0 && num_channels % num_groups == 0,
                   "GroupNorm: num_channels must be divisible by num_groups, got num_channels=",
                   num_channels, " and num_groups=", num_groups);
  weight = register_parameter("weight", affine ? empty({num_channels}) : Tensor());
  bias = register_parameter("bias", affine ? empty({num_channels}) : Tensor());
  reset_parameters();
}

void GroupNorm::reset_parameters() {
  if (!affine_) return;
  NoGradGuard guard;
  weight.fill_(1);
  bias.zero_();
}

Tensor GroupNorm::forward(const Tensor& input) {
  return F::group_norm(input, num_groups_, weight, bias, eps_);
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(num_groups_) + ", " + std::to_string(num_channels_) +
         ", eps=" + repr_double(eps_) + ", affine=" + repr_bool(affine_);
}

}  // namespace kiln::nn
