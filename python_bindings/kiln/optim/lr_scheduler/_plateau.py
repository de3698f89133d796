"""ReduceLROnPlateau with torch's signature over kiln::optim::ReduceLROnPlateau: lowers the lrs
when the metric given to step() stops improving. Like torch's, it is not an _LRScheduler."""
import warnings

from ... import _C
from ._base import EPOCH_DEPRECATION_WARNING
from ._metadata import CppStateAttributes, from_metadata, to_metadata
from ._native import check_native_optimizer


class ReduceLROnPlateau(CppStateAttributes):
    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8, verbose=False):
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        check_native_optimizer(optimizer, "ReduceLROnPlateau")
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, got "
                                 f"{len(min_lr)}")
            min_lrs = [float(v) for v in min_lr]
        else:
            min_lrs = [float(min_lr)]
        if mode not in ("min", "max"):
            raise ValueError("mode " + str(mode) + " is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError("threshold mode " + str(threshold_mode) + " is unknown!")
        self.optimizer = optimizer
        self.verbose = verbose
        self._c = _C._optim.ReduceLROnPlateau(optimizer._c, mode, factor, patience, threshold,
                                              threshold_mode, cooldown, min_lrs, eps)

    def step(self, metrics, epoch=None):
        """Records one epoch's metric (a number or a one-element tensor)."""
        current = float(metrics)
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning)
            self.last_epoch = epoch - 1  # the C++ step counts it up to `epoch`
        before = [group["lr"] for group in self.optimizer.param_groups] if self.verbose else None
        self._c.step(current)
        if self.verbose:
            epoch = self._c.last_epoch
            for i, (old, new) in enumerate(zip(before, self._c.get_last_lr())):
                if new != old:
                    epoch_str = ("%.2f" if isinstance(epoch, float) else "%.5d") % epoch
                    print(f"Epoch {epoch_str}: reducing learning rate of group {i} to {new:.4e}.")

    @property
    def in_cooldown(self):
        return self._c.in_cooldown

    def get_last_lr(self):
        return list(self._c.get_last_lr())

    def state_dict(self):
        state = from_metadata(self._c.state_dict())
        state["verbose"] = self.verbose
        return state

    def load_state_dict(self, state_dict):
        self._c.load_state_dict(to_metadata("ReduceLROnPlateau", state_dict))
        self.verbose = state_dict.get("verbose", self.verbose)

