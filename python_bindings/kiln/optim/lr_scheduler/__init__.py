"""kiln.optim.lr_scheduler: torch.optim.lr_scheduler's schedulers (PyTorch 1.13).

StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, OneCycleLR and
ReduceLROnPlateau run in C++ and need one of Kiln's optimizers; LambdaLR, MultiplicativeLR,
ChainedScheduler and subclasses of _LRScheduler are Python and work with any kiln.optim
optimizer. All of them set the groups' 'lr'; the chainable ones (StepLR, MultiStepLR,
ExponentialLR, LinearLR, MultiplicativeLR) multiply the current lr, so several can act on one
optimizer.
"""
from ._base import _LRScheduler, LRScheduler  # noqa: F401 (_LRScheduler: torch 1.13's name)
from ._chained import ChainedScheduler
from ._epoch_schedules import StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR
from ._lambda import LambdaLR, MultiplicativeLR
from ._one_cycle import OneCycleLR
from ._plateau import ReduceLROnPlateau

__all__ = ["LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "LinearLR", "ExponentialLR",
           "CosineAnnealingLR", "ChainedScheduler", "ReduceLROnPlateau", "OneCycleLR",
           "LRScheduler"]
