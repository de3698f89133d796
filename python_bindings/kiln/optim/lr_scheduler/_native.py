"""NativeLRScheduler: a C++ scheduler (kiln._C._optim) behind torch's scheduler interface.

The C++ scheduler sets the lrs of the optimizer's C++ groups directly; step() is one C++ call.
Its settings and counters read and write as attributes with torch's names (_metadata.py).
"""
import warnings

from .._native import NativeOptimizer
from ._base import _LRScheduler, check_optimizer, print_lr
from ._metadata import CppStateAttributes, from_metadata, text_from_value, to_metadata


def check_native_optimizer(optimizer, scheduler):
    check_optimizer(optimizer)
    if not isinstance(optimizer, NativeOptimizer):
        raise TypeError(f"{scheduler} runs in C++ and needs one of Kiln's optimizers (SGD, Adam, "
                        f"...), not the Python optimizer {type(optimizer).__name__}; write the "
                        "schedule with LambdaLR instead")


def _resumed(optimizer, last_epoch, make):
    """The C++ scheduler as torch makes it with last_epoch != -1: the groups keep their options
    (their 'initial_lr' become the base lrs) and the first step computes epoch last_epoch + 1."""
    groups = optimizer.param_groups
    for i, group in enumerate(groups):
        if "initial_lr" not in group:
            raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when "
                           "resuming an optimizer")
    c_optimizer = optimizer._c
    saved = [c_optimizer.options(i) for i in range(len(groups))]
    scheduler = make(c_optimizer)  # takes a first step, which changes the groups: undone below
    for i, options in enumerate(saved):
        for key, value in options.items():
            c_optimizer.set_option(i, key, float(value))
    metadata = scheduler.state_dict()
    metadata["last_epoch"] = text_from_value("last_epoch", last_epoch)
    metadata["_step_count"] = "0"
    metadata["base_lrs"] = text_from_value("base_lrs", [o["initial_lr"] for o in saved])
    scheduler.load_state_dict(metadata)
    scheduler.step()
    return scheduler


class NativeLRScheduler(CppStateAttributes, _LRScheduler):
    """Subclasses call __init__ with `make`: C++ optimizer -> C++ scheduler."""

    def __init__(self, optimizer, last_epoch, verbose, make):
        check_native_optimizer(optimizer, type(self).__name__)
        self.optimizer = optimizer
        self.verbose = verbose
        self._c = make(optimizer._c) if last_epoch == -1 else _resumed(optimizer, last_epoch, make)
        self._print_lrs()

    def _print_lrs(self):
        if self.verbose:
            for i, lr in enumerate(self._c.get_last_lr()):
                print_lr(True, i, lr)

    def step(self, epoch=None):
        """Advances one epoch (OneCycleLR: one batch) and sets the groups' lrs."""
        if epoch is not None:
            raise NotImplementedError(
                f"{type(self).__name__}.step(epoch): the epoch argument (deprecated in PyTorch) "
                "is not supported by Kiln's C++ schedulers; call step() once per epoch, or set "
                "last_epoch")
        self._c.step()
        self._print_lrs()

    def get_last_lr(self):
        return list(self._c.get_last_lr())

    def get_lr(self):
        """The lrs of the last step. (torch's get_lr outside step() recomputes them, which for
        the chainable schedules is not the current value; torch warns likewise.)"""
        warnings.warn("To get the last learning rate computed by the scheduler, please use "
                      "`get_last_lr()`.", UserWarning)
        return self.get_last_lr()

    def state_dict(self):
        state = from_metadata(self._c.state_dict())
        state["verbose"] = self.verbose
        return state

    def load_state_dict(self, state_dict):
        self._c.load_state_dict(to_metadata(self._c.name, state_dict))
        self.verbose = state_dict.get("verbose", self.verbose)
