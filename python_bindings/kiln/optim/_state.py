"""`optimizer.state` of a Kiln optimizer: a mapping from parameter to its state, read from C++.

state[p] is a dict-like view with torch's key names ('momentum_buffer', 'exp_avg', 'exp_avg_sq',
'max_exp_avg_sq', 'square_avg', 'grad_avg', 'sum' and 'step'). Buffers are the optimizer's own
tensors (in-place changes reach it); 'step' is what PyTorch 1.13 keeps: a 0-d float32 tensor
(an int for RMSprop).
Parameters appear once they have state: after their first step (Adagrad: from the start).
"""
from collections.abc import Mapping, MutableMapping

from .. import _C
from .._factories import tensor
from ._param_group import as_number


class ParamState(MutableMapping):
    """The state of one parameter."""

    __slots__ = ("_optimizer", "_param")

    def __init__(self, optimizer, param):
        self._optimizer = optimizer
        self._param = param

    def _counts_step(self):
        return self._optimizer._counts_steps and self._optimizer._c.has_state(self._param)

    def __getitem__(self, key):
        if key == "step" and self._counts_step():
            step = self._optimizer._c.state_step(self._param)
            return tensor(float(step)) if self._optimizer._step_is_tensor else step
        return self._optimizer._c.state_buffers(self._param)[key]

    def __setitem__(self, key, value):
        c = self._optimizer._c
        if key == "step":
            step = as_number(value)
            if not self._optimizer._counts_steps or step is None:
                raise ValueError(f"kiln.optim.{type(self._optimizer).__name__}: 'step' must be a "
                                 "number, for an optimizer that counts steps")
            c.set_state_step(self._param, int(round(step)))
        elif isinstance(value, _C.Tensor):
            c.set_state_buffer(self._param, key, value)
        else:
            raise TypeError(f"kiln.optim: the state '{key}' must be a tensor, got "
                            f"{type(value).__name__}")

    def __delitem__(self, key):
        if key == "step":
            raise ValueError("kiln.optim: a parameter's 'step' cannot be removed alone; clear() "
                             "removes its whole state")
        self._optimizer._c.erase_state_buffer(self._param, key)

    def clear(self):
        self._optimizer._c.reset_state(self._param)

    def __iter__(self):
        if self._counts_step():
            yield "step"
        yield from self._optimizer._c.state_buffers(self._param)

    def __len__(self):
        return sum(1 for _ in self)

    def __repr__(self):
        return repr(dict(self))


class OptimizerState(Mapping):
    """optimizer.state: parameter -> ParamState, for the parameters that have state."""

    __slots__ = ("_optimizer",)

    def __init__(self, optimizer):
        self._optimizer = optimizer

    def __getitem__(self, param):
        if not isinstance(param, _C.Tensor):
            raise KeyError(param)
        self._optimizer._c.has_state(param)  # KeyError unless a parameter of the optimizer
        return ParamState(self._optimizer, param)

    def __contains__(self, param):
        try:
            return isinstance(param, _C.Tensor) and self._optimizer._c.has_state(param)
        except KeyError:
            return False

    def __iter__(self):
        c = self._optimizer._c
        for group in self._optimizer.param_groups:
            for p in group["params"]:
                if c.has_state(p):
                    yield p

    def __len__(self):
        return sum(1 for _ in self)

    def __repr__(self):
        return "{" + ", ".join(f"<parameter {tuple(p.shape)}>: {self[p]!r}" for p in self) + "}"
