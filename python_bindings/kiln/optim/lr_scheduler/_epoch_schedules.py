"""The epoch-wise C++ schedulers with torch's signatures: StepLR, MultiStepLR, ExponentialLR,
CosineAnnealingLR and LinearLR (kiln::optim, lr_scheduler.h). StepLR, MultiStepLR,
ExponentialLR and LinearLR use torch's chainable form; CosineAnnealingLR is computed in closed
form from the epoch (equal to torch's recursive form up to rounding, but it does not compose
multiplicatively with another scheduler acting on the same optimizer)."""
from ... import _C
from ._native import NativeLRScheduler


class StepLR(NativeLRScheduler):
    """lr *= gamma every step_size epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1, verbose=False):
        super().__init__(optimizer, last_epoch, verbose,
                         lambda c: _C._optim.StepLR(c, step_size, gamma))


class MultiStepLR(NativeLRScheduler):
    """lr *= gamma at each milestone epoch."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1, verbose=False):
        milestones = [int(m) for m in milestones]
        super().__init__(optimizer, last_epoch, verbose,
                         lambda c: _C._optim.MultiStepLR(c, milestones, gamma))


class ExponentialLR(NativeLRScheduler):
    """lr *= gamma every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1, verbose=False):
        super().__init__(optimizer, last_epoch, verbose,
                         lambda c: _C._optim.ExponentialLR(c, gamma))


class CosineAnnealingLR(NativeLRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max, eta_min=0, last_epoch=-1, verbose=False):
        super().__init__(optimizer, last_epoch, verbose,
                         lambda c: _C._optim.CosineAnnealingLR(c, T_max, eta_min))


class LinearLR(NativeLRScheduler):
    """The lr factor goes linearly from start_factor to end_factor over total_iters epochs."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1, verbose=False):
        if start_factor > 1.0 or start_factor < 0:
            raise ValueError("Starting multiplicative factor expected to be between 0 and 1.")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        super().__init__(optimizer, last_epoch, verbose,
                         lambda c: _C._optim.LinearLR(c, start_factor, end_factor, total_iters))
