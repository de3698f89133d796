"""OneCycleLR with torch's signature over kiln::optim::OneCycleLR: the 1cycle policy, stepped once
per batch, with the momentum (Adam: betas[0]) cycled inversely to the lr."""
from ... import _C
from ._base import check_optimizer
from ._native import NativeLRScheduler


def _per_group(name, optimizer, value):
    """torch's _format_param: one value for every group, or one per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"expected {len(optimizer.param_groups)} values for {name}, got "
                             f"{len(value)}")
        return list(value)
    return [value] * len(optimizer.param_groups)


def _one_value(name, optimizer, value):
    """The C++ scheduler cycles every group between the same two momentums."""
    values = _per_group(name, optimizer, value)
    if any(v != values[0] for v in values):
        raise NotImplementedError(f"OneCycleLR: a different {name} per parameter group is not "
                                  "supported by Kiln; give one value")
    return float(values[0])


def _total_steps(total_steps, epochs, steps_per_epoch):
    if total_steps is None and epochs is None and steps_per_epoch is None:
        raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
    if total_steps is not None:
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        return total_steps
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"Expected positive integer epochs, but got {epochs}")
    if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
        raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
    return epochs * steps_per_epoch


class OneCycleLR(NativeLRScheduler):
    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25., final_div_factor=1e4, three_phase=False,
                 last_epoch=-1, verbose=False):
        check_optimizer(optimizer)
        total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        if not isinstance(pct_start, float) or pct_start < 0 or pct_start > 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("anneal_strategy must by one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        max_lrs = [float(lr) for lr in _per_group("max_lr", optimizer, max_lr)]
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("optimizer must support momentum with `cycle_momentum` option "
                                 "enabled")
            base_momentum = _one_value("base_momentum", optimizer, base_momentum)
            max_momentum = _one_value("max_momentum", optimizer, max_momentum)
        super().__init__(optimizer, last_epoch, verbose, lambda c: _C._optim.OneCycleLR(
            c, max_lrs, total_steps, pct_start, anneal_strategy, cycle_momentum,
            float(base_momentum), float(max_momentum), div_factor, final_div_factor, three_phase))
