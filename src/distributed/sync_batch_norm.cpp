// SyncBatchNorm: the global-batch statistics as a composite of ops and the differentiable
// all_gather (so autograd provides the backward), and convert_sync_batchnorm.
#include "kiln/distributed/sync_batch_norm.h"

#include <string>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/distributed/functional.h"
#include "kiln/error.h"
#include "kiln/ops.h"

namespace kiln::distributed {

namespace {

Shape channel_shape(int64_t dim, int64_t c) {
  Shape s(static_cast<size_t>(dim), 1);
  s[1] = c;
  return s;
}

void check_channel_vector(const Tensor& t, const char* what, int64_t c, const Tensor& input) {
  if (!t.defined()) return;
  KILN_CHECK_VALUE(t.numel() == c, "sync_batch_norm: ", what, " should contain ", c,
                   " elements not ", t.numel(), " (input shape ", shape_str(input.shape()), ")");
  KILN_CHECK_VALUE(t.device() == input.device(), "sync_batch_norm: ", what, " is on ",
                   t.device().str(), " but the input is on ", input.device().str());
}

}  // namespace

Tensor sync_batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                       const Tensor& weight, const Tensor& bias, double momentum, double eps,
                       ProcessGroup& pg) {
  KILN_CHECK_VALUE(input.defined(), "sync_batch_norm: the input is undefined");
  KILN_CHECK_TYPE(input.is_floating_point(),
                  "sync_batch_norm: expected a floating point input, "
                  "got ",
                  dtype_name(input.dtype()));
  KILN_CHECK_VALUE(input.dim() >= 2, "sync_batch_norm: expected an input [N, C, *], got shape ",
                   shape_str(input.shape()));
  const int64_t c = input.size(1);
  KILN_CHECK_VALUE(c > 0, "sync_batch_norm: the input has no channels (shape ",
                   shape_str(input.shape()), ")");
  check_channel_vector(weight, "weight", c, input);
  check_channel_vector(bias, "bias", c, input);
  check_channel_vector(running_mean, "running_mean", c, input);
  check_channel_vector(running_var, "running_var", c, input);

  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < input.dim(); ++d) dims.push_back(d);
  const Shape cshape = channel_shape(input.dim(), c);
  const int64_t n_local = input.numel() / c;

  // Local statistics. An empty batch gives mean 0 and M2 0 (not 0 / 0): its count of 0 then
  // removes it from the combination, and its gradient stays finite.
  Tensor mean_local = sum(input, dims) / double(std::max<int64_t>(n_local, 1));
  Tensor m2_local = sum(square(input - mean_local.reshape(cshape)), dims);
  Tensor count_local = full({1}, double(n_local), input.dtype(), input.device());
  std::vector<Tensor> gathered = all_gather(cat({mean_local, m2_local, count_local}), pg);

  Tensor all = stack(gathered);  // [world, 2C + 1]
  Tensor means = all.narrow(1, 0, c);
  Tensor m2s = all.narrow(1, c, c);
  Tensor counts = all.narrow(1, 2 * c, 1).detach();  // [world, 1]; counts carry no gradient
  double n = 0;
  for (double k : counts.to_vector()) n += k;
  KILN_CHECK_VALUE(n > 1,
                   "sync_batch_norm: expected more than 1 value per channel when training, "
                   "got ",
                   int64_t(n), " over all ranks (input shape on rank ", pg.rank(), ": ",
                   shape_str(input.shape()), ")");

  // The parallel-variance combination (Chan et al.).
  Tensor mean = sum(means * counts, {0}) / n;
  Tensor m2 = sum(m2s + counts * square(means - mean), {0});
  Tensor invstd = rsqrt(m2 / n + eps);
  Tensor y = (input - mean.reshape(cshape)) * invstd.reshape(cshape);
  if (weight.defined()) y = y * weight.reshape(cshape);
  if (bias.defined()) y = y + bias.reshape(cshape);

  // Every rank combined the same gathered numbers in the same order: identical statistics.
  NoGradGuard no_grad;
  if (Tensor rm = running_mean; rm.defined())
    rm.copy_(rm * (1.0 - momentum) + mean.detach() * momentum);
  if (Tensor rv = running_var; rv.defined())
    rv.copy_(rv * (1.0 - momentum) + (m2.detach() / (n - 1)) * momentum);
  return y;
}

SyncBatchNorm::SyncBatchNorm(int64_t num_features, double eps, std::optional<double> momentum,
                             bool affine, bool track_running_stats,
                             std::shared_ptr<ProcessGroup> process_group)
    : BatchNormBase("SyncBatchNorm", num_features, eps, momentum, affine, track_running_stats),
      process_group_(std::move(process_group)) {}

void SyncBatchNorm::check_input_dim(const Tensor& input) const {
  KILN_CHECK_VALUE(input.dim() >= 2, "SyncBatchNorm: expected at least 2D input (got ", input.dim(),
                   "D input)");
}

Tensor SyncBatchNorm::forward(const Tensor& input) {
  KILN_CHECK_VALUE(input.defined(), "SyncBatchNorm: the input is undefined");
  check_input_dim(input);
  KILN_CHECK_VALUE(input.size(1) > 0,
                   "SyncBatchNorm: number of input channels should be non-zero, got shape ",
                   shape_str(input.shape()));
  const bool bn_training = is_training() || (!running_mean.defined() && !running_var.defined());
  std::shared_ptr<ProcessGroup> pg = process_group_;
  if (!pg && is_initialized()) pg = default_group();
  // torch: only a training module with batch statistics and a group of several ranks syncs.
  if (!(bn_training && is_training() && pg && pg->size() > 1)) return BatchNormBase::forward(input);

  double factor = momentum_.value_or(0.0);
  if (track_running_stats_ && num_batches_tracked.defined()) {
    {
      NoGradGuard guard;
      num_batches_tracked.add_(1);
    }
    if (!momentum_) factor = 1.0 / num_batches_tracked.item();
  }
  const bool use_running = track_running_stats_;
  return sync_batch_norm(input, use_running ? running_mean : Tensor(),
                         use_running ? running_var : Tensor(), weight, bias, factor, eps_, *pg);
}

std::shared_ptr<nn::Module> SyncBatchNorm::convert_sync_batchnorm(
    std::shared_ptr<nn::Module> module, std::shared_ptr<ProcessGroup> process_group) {
  KILN_CHECK_VALUE(module != nullptr, "convert_sync_batchnorm: the module is null");
  std::shared_ptr<nn::Module> out = module;
  if (auto bn = std::dynamic_pointer_cast<nn::BatchNormBase>(module);
      bn && !std::dynamic_pointer_cast<SyncBatchNorm>(module)) {
    auto sync =
        std::make_shared<SyncBatchNorm>(bn->num_features(), bn->eps(), bn->momentum(), bn->affine(),
                                        bn->track_running_stats(), process_group);
    // The same tensor handles, registered under the same names.
    auto trains = [](const Tensor& t) { return !t.defined() || t.requires_grad(); };
    sync->weight = sync->register_parameter("weight", bn->weight, trains(bn->weight));
    sync->bias = sync->register_parameter("bias", bn->bias, trains(bn->bias));
    sync->running_mean = sync->register_buffer("running_mean", bn->running_mean);
    sync->running_var = sync->register_buffer("running_var", bn->running_var);
    sync->num_batches_tracked =
        sync->register_buffer("num_batches_tracked", bn->num_batches_tracked);
    sync->train(bn->is_training());
    out = sync;
  }
  for (const auto& [name, child] : module->named_children()) {
    auto converted = convert_sync_batchnorm(child, process_group);
    if (converted != child) out->register_module(name, converted);
  }
  return out;
}

std::shared_ptr<nn::Module> convert_sync_batchnorm(std::shared_ptr<nn::Module> module,
                                                   std::shared_ptr<ProcessGroup> process_group) {
  return SyncBatchNorm::convert_sync_batchnorm(std::move(module), std::move(process_group));
}

}  // namespace kiln::distributed
