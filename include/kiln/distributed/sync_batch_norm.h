#pragma once
// SyncBatchNorm: batch normalisation whose batch statistics are those of the global batch, the
// union of every rank's batch (torch.nn.SyncBatchNorm).
//
// Each rank computes per channel its count, mean and sum of squared deviations (M2); these are
// all-gathered with the differentiable all_gather (ranks may have different batch sizes,
// including zero), combined with the parallel-variance formula
//   n = Σ n_r,  mean = Σ n_r mean_r / n,  M2 = Σ (M2_r + n_r (mean_r − mean)²),
// and the input is normalised with mean and M2 / n. The running statistics are updated with
// mean and the unbiased M2 / (n − 1), identical on every rank. SyncBatchNorm is a composite of
// ops and collectives with a backward, so its gradients come from autograd: the gradient of
// rank r's statistics sums every rank's contribution (the all_gather's backward), which is
// torch's "all-reduce sum_dy and sum_dy·(x − mean), divide by the total count". Every rank must
// therefore run backward (a rank with an empty batch too: its loss is 0 but it joins the
// collective).
//
// In evaluation, without a group of more than one rank, or when the module does not use batch
// statistics, it is plain batch_norm.
#include <cstdint>
#include <memory>
#include <optional>

#include "kiln/distributed/process_group.h"
#include "kiln/nn/normalization.h"

namespace kiln::distributed {

// The synchronised training-mode batch norm: input [N, C, *] (N may be 0 on some ranks, not on
// all), weight / bias [C] or undefined, running statistics [C] or undefined (updated in place
// without autograd when defined, with factor `momentum`). Collective over `pg`.
Tensor sync_batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                       const Tensor& weight, const Tensor& bias, double momentum, double eps,
                       ProcessGroup& pg);

class SyncBatchNorm : public nn::BatchNormBase {
 public:
  // Parameters, buffers, defaults and state_dict names as BatchNorm2d (and torch's
  // SyncBatchNorm). process_group: the default group when null (and when none is initialised,
  // the layer behaves as BatchNorm).
  explicit SyncBatchNorm(int64_t num_features, double eps = 1e-5,
                         std::optional<double> momentum = 0.1, bool affine = true,
                         bool track_running_stats = true,
                         std::shared_ptr<ProcessGroup> process_group = nullptr);

  Tensor forward(const Tensor& input) override;

  // Returns `module` with every BatchNorm1d/2d/3d of its tree replaced by a SyncBatchNorm that
  // takes over its parameter and buffer tensors (the same handles: an optimizer built before
  // the conversion still updates them) and its training mode. A BatchNorm at the root is
  // returned converted; children are replaced in their parents by name. A parent that calls a
  // BatchNorm through a typed member of its own (not through a container or its registered
  // children) keeps calling the old layer: such models should build SyncBatchNorm directly.
  static std::shared_ptr<nn::Module> convert_sync_batchnorm(
      std::shared_ptr<nn::Module> module, std::shared_ptr<ProcessGroup> process_group = nullptr);

  const std::shared_ptr<ProcessGroup>& process_group() const { return process_group_; }

 protected:
  // [N, C, *]: at least 2-D ("expected at least 2D input (got 1D input)").
  void check_input_dim(const Tensor& input) const override;

 private:
  std::shared_ptr<ProcessGroup> process_group_;
};

// Free-function form of SyncBatchNorm::convert_sync_batchnorm.
std::shared_ptr<nn::Module> convert_sync_batchnorm(
    std::shared_ptr<nn::Module> module, std::shared_ptr<ProcessGroup> process_group = nullptr);

}  // namespace kiln::distributed
