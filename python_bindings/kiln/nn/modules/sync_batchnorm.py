"""kiln.nn.SyncBatchNorm (torch.nn.SyncBatchNorm): batch normalisation with the statistics of the
global batch, the union of every rank's batch.

Per channel, each rank computes its count, mean and sum of squared deviations (M2); these are
all-gathered with the differentiable all_gather (ranks may have different batch sizes, zero
included) and combined with the parallel-variance formula
    n = sum n_r,  mean = sum n_r mean_r / n,  M2 = sum (M2_r + n_r (mean_r - mean)^2);
the input is normalised with mean and M2 / n, and the running statistics are updated with mean
and M2 / (n - 1), identical on every rank. Being made of ops and collectives with a backward,
its gradients come from autograd (the all_gather's backward sums every rank's contribution,
torch's "all-reduce sum_dy and sum_dy_xmu"); every rank must therefore run backward, a rank
with an empty batch too. In evaluation, or without a group of several ranks, it is BatchNorm.
The same computation as the C++ kiln::distributed::sync_batch_norm.
"""
import importlib

from ... import _C, _factories, cat, no_grad, stack
from .. import functional as F
from .normalization import _BatchNorm

__all__ = ["SyncBatchNorm"]


def _dist():
    """kiln.distributed, imported when first needed (`import kiln` must not depend on it); None
    when the extension was built without it."""
    if not hasattr(_C, "_distributed"):
        return None
    return importlib.import_module("kiln.distributed")


def _sync_batch_norm(input, weight, bias, running_mean, running_var, eps, momentum, group):
    c = input.size(1)
    dims = [0] + list(range(2, input.dim()))
    cshape = [1, c] + [1] * (input.dim() - 2)
    n_local = input.numel() // c
    # An empty batch gives mean 0 and M2 0 (not 0 / 0): its count of 0 removes it below.
    mean_local = input.sum(dims) / max(n_local, 1)
    m2_local = (input - mean_local.reshape(cshape)).square().sum(dims)
    count_local = _factories.full((1,), float(n_local), dtype=input.dtype, device=input.device)
    dist = _dist()
    gathered = dist.nn.functional.all_gather(cat([mean_local, m2_local, count_local]), group=group)
    every = stack(list(gathered))  # [world, 2C + 1]
    means = every.narrow(1, 0, c)
    m2s = every.narrow(1, c, c)
    counts = every.narrow(1, 2 * c, 1).detach()
    n = float(counts.sum().item())
    if n <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {int(n)} over all ranks (input shape on rank "
                         f"{dist.get_rank(group)}: {list(input.shape)})")
    mean = (means * counts).sum(0) / n
    m2 = (m2s + counts * (means - mean).square()).sum(0)
    invstd = (m2 / n + eps).rsqrt()
    y = (input - mean.reshape(cshape)) * invstd.reshape(cshape)
    if weight is not None:
        y = y * weight.reshape(cshape)
    if bias is not None:
        y = y + bias.reshape(cshape)
    with no_grad():
        if running_mean is not None:
            running_mean.copy_(running_mean * (1 - momentum) + mean.detach() * momentum)
        if running_var is not None:
            running_var.copy_(running_var * (1 - momentum) + (m2.detach() / (n - 1)) * momentum)
    return y


class SyncBatchNorm(_BatchNorm):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def _check_non_zero_input_channels(self, input):
        if input.size(1) == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def forward(self, input):
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        exponential_average_factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                exponential_average_factor = 1.0 / float(self.num_batches_tracked.item())
            else:
                exponential_average_factor = self.momentum
        if self.training:
            bn_training = True
        else:
            bn_training = self.running_mean is None and self.running_var is None
        running_mean = self.running_mean if not self.training or self.track_running_stats \
            else None
        running_var = self.running_var if not self.training or self.track_running_stats \
            else None
        need_sync = bn_training and self.training
        if need_sync:
            dist = _dist()
            need_sync = dist is not None and dist.is_initialized() and \
                dist.get_world_size(self.process_group) > 1
        if not need_sync:
            return F.batch_norm(input, running_mean, running_var, self.weight, self.bias,
                                bn_training, exponential_average_factor, self.eps)
        return _sync_batch_norm(input, self.weight, self.bias, running_mean, running_var,
                                self.eps, exponential_average_factor, self.process_group)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """`module` with every BatchNorm1d/2d/3d replaced by a SyncBatchNorm holding the same
        parameter and buffer tensors (torch's convert_sync_batchnorm). The converted layer
        keeps the training mode of the one it replaces."""
        module_output = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            module_output = SyncBatchNorm(module.num_features, module.eps, module.momentum,
                                          module.affine, module.track_running_stats,
                                          process_group)
            if module.affine:
                with no_grad():
                    module_output.weight = module.weight
                    module_output.bias = module.bias
            module_output.running_mean = module.running_mean
            module_output.running_var = module.running_var
            module_output.num_batches_tracked = module.num_batches_tracked
            module_output.train(module.training)
            if hasattr(module, "qconfig"):
                module_output.qconfig = module.qconfig
        for name, child in module.named_children():
            module_output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        del module
        return module_output
