"""NativeOptimizer: the base of Kiln's optimizers, whose groups, state and update are C++.

The C++ optimizer (kiln._C._optim) holds the parameters' tensor handles, so gradients that
backward() writes are seen directly, and step() / zero_grad() are one C++ call each.
`param_groups` and `state` are views of the C++ objects (_param_group.py, _state.py); state_dict()
and load_state_dict() use torch's format.

`fused` (SGD, Adam, AdamW) chooses the update: None runs the fused step (one kernel per group)
on CUDA and the composite elsewhere, True the fused step on any device, False always the
composite; both agree to rounding. It is a C++ option holding NaN, 0 or 1. torch 1.13 has it on
Adam only, so only Adam's param_groups show it; SGD and AdamW take it from the constructor.
"""
import math
from typing import NamedTuple

import numpy as np

from .. import _C
from .._factories import tensor
from .._grad_mode import enable_grad
from ._param_group import ParamGroup, as_number
from ._state import OptimizerState
from .optimizer import Optimizer, check_disjoint, checked_params, group_dicts, required

# Keys the schedulers write into groups (torch's names); accepted in groups given to the
# constructor, e.g. when resuming with last_epoch.
_SCHEDULER_KEYS = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
# The C++ options that are flags: the constructors take them as bools.
_FLAGS = frozenset(("nesterov", "amsgrad", "centered"))


def _state_tensor(value):
    """A saved state value as a Kiln tensor (a Kiln tensor, a number, or an array-like such as a
    NumPy array or a torch tensor)."""
    if isinstance(value, _C.Tensor):
        return value
    number = as_number(value)
    if number is not None and not hasattr(value, "shape"):
        return tensor(number)
    return tensor(np.asarray(value))


class _GroupSpec(NamedTuple):
    """A group dict taken apart: what the C++ group gets and what stays in Python."""
    params: list   # the parameters
    cpp: dict      # C++ option overrides: name -> number
    extras: dict   # options kept in Python (torch-only options)
    given: dict    # the Python values given, returned while they still hold
    late: dict     # scheduler keys, set once the C++ group exists


class NativeOptimizer(Optimizer):
    """A C++ optimizer behind torch's Optimizer interface. Subclasses set the class attributes
    and call __init__ with torch's defaults dict (in torch's key order)."""

    _cpp = None               # the kiln._C._optim class
    _counts_steps = True      # whether the state has a 'step'
    _step_is_tensor = True    # torch 1.13 keeps it as a 0-d float32 tensor (RMSprop: an int)
    _tuple_options = {}       # torch option -> its C++ options: {'betas': ('beta1', 'beta2')}
    _tuple_parts = frozenset()
    # C++ options whose Python values are None / False / True (the C++ NaN / 0 / 1)
    _tristate_options = frozenset()
    # C++ options torch's param groups do not have: set by the constructor, not shown in
    # param_groups or state_dict(); the group dict view keeps such a key in Python only
    _hidden_options = frozenset()
    # torch options Kiln accepts with some values only: name -> (allowed values or None for any,
    # why the others are not implemented)
    _python_options = {}

    def __init__(self, params, defaults, hidden=None):
        """`hidden`: values of the _hidden_options for the C++ constructor."""
        self.defaults = defaults
        for key, value in defaults.items():
            if key in self._python_options:
                self._check_python_option(key, value)
        self.param_groups = []
        self.state = OptimizerState(self)
        specs = []
        for group in group_dicts(params):
            spec = self._group_spec(group)
            check_disjoint([{"params": s.params} for s in specs], spec.params)
            specs.append(spec)
        cpp_defaults = {k: bool(v) if k in _FLAGS else v for key, value in defaults.items()
                        if key not in self._python_options and key not in self._tristate_options
                        for k, v in self._cpp_values(key, value, default=True).items()}
        for key, value in list(defaults.items()) + list((hidden or {}).items()):
            if key in self._tristate_options:
                self._cpp_values(key, value)  # checks it
                cpp_defaults[key] = None if value is None else bool(value)
        self._c = self._cpp([(s.params, s.cpp) for s in specs], **cpp_defaults)
        for spec in specs:
            self._append_group(spec)

    # ---- options: torch names -> C++ ----

    def _check_python_option(self, key, value):
        allowed, reason = self._python_options[key]
        if allowed is not None and value not in allowed:
            raise NotImplementedError(f"kiln.optim.{type(self).__name__}: {key}={value!r} is not "
                                      f"supported ({reason})")

    def _cpp_values(self, key, value, default=False):
        """The C++ options and numbers for torch's option `key` = `value`."""
        if key in self._tristate_options:
            number = None if value is None else as_number(value)
            if value is not None and number not in (0.0, 1.0):
                raise TypeError(f"kiln.optim.{type(self).__name__}: '{key}' must be None, True "
                                f"or False, got {value!r}")
            return {key: math.nan if value is None else number}
        if key in self._tuple_parts:
            parent = next(k for k, parts in self._tuple_options.items() if key in parts)
            raise ValueError(f"kiln.optim.{type(self).__name__}: set '{parent}', not '{key}'")
        parts = self._tuple_options.get(key)
        if parts is not None:
            values = list(value) if isinstance(value, (tuple, list)) else None
            numbers = [as_number(v) for v in values] if values is not None else None
            if numbers is None or len(numbers) != len(parts) or None in numbers:
                raise TypeError(f"kiln.optim.{type(self).__name__}: '{key}' must be a tuple of "
                                f"{len(parts)} numbers, got {value!r}")
            return dict(zip(parts, numbers))
        if default and value is required:
            return {key: float("nan")}  # the C++ optimizer's "required" marker
        number = as_number(value)
        if number is None:
            raise TypeError(f"kiln.optim.{type(self).__name__}: the option '{key}' must be a "
                            f"number, got {value!r}")
        return {key: number}

    def _python_value(self, key, number):
        """A C++ option's number as Python reads it (tri-state options: None/False/True)."""
        if key in self._tristate_options:
            return None if math.isnan(number) else bool(number)
        return number

    def _group_spec(self, group):
        """The _GroupSpec of a group dict, with torch's checks; unknown options are refused."""
        params = checked_params(group)
        if self.defaults.get("lr") is required and "lr" not in group:
            raise ValueError("parameter group didn't specify a value of required optimization "
                             "parameter lr")
        cpp, late = {}, {}
        extras = {k: v for k, v in self.defaults.items() if k in self._python_options}
        given = {k: v for k, v in self.defaults.items()
                 if k not in self._python_options and v is not required}
        for key, value in group.items():
            if key == "params":
                continue
            if key in self._python_options:
                self._check_python_option(key, value)
                extras[key] = value
            elif key in self.defaults:
                cpp.update(self._cpp_values(key, value))
                given[key] = value
            elif key in _SCHEDULER_KEYS:
                late.update(self._cpp_values(key, value))
                given[key] = value
            else:
                known = ", ".join(k for k in self.defaults)
                raise ValueError(f"kiln.optim.{type(self).__name__}: unknown option '{key}' in a "
                                 f"parameter group (options: {known})")
        return _GroupSpec(params, cpp, extras, given, late)

    def _append_group(self, spec):
        index = len(self.param_groups)
        for key, number in spec.late.items():
            self._c.set_option(index, key, number)
        self.param_groups.append(ParamGroup(self, index, spec.params, spec.extras, spec.given))

    # ---- torch's Optimizer interface ----

    def add_param_group(self, param_group):
        spec = self._group_spec(param_group)
        check_disjoint(self.param_groups, spec.params)
        self._c.add_param_group((spec.params, spec.cpp))
        self._append_group(spec)

    def zero_grad(self, set_to_none=False):
        self._c.zero_grad(set_to_none)

    def step(self, closure=None):
        """One update of every parameter that has a gradient (one C++ call). `closure`, when
        given, runs first with grad enabled; its result is returned."""
        if closure is None:
            self._c.step()
            return None
        with enable_grad():
            loss = closure()
        self._c.step()
        return loss

    def __getstate__(self):
        raise TypeError(f"kiln.optim.{type(self).__name__} cannot be pickled; save its "
                        "state_dict() instead")

    def state_dict(self):
        """torch's format; the state tensors are copies (a snapshot, safe to keep while training
        goes on)."""
        tensors, _ = self._c.state_dict()
        state = {}
        for name, value in tensors.items():
            _, index, key = name.split(".", 2)  # "state.<index>.<key>"
            if key == "step" and not self._step_is_tensor:
                value = int(value.item())
            state.setdefault(int(index), {})[key] = value
        param_groups = []
        start = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            count = len(group["params"])
            packed["params"] = list(range(start, start + count))
            start += count
            param_groups.append(packed)
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict):
        """Restores a state_dict() (Kiln's, or torch's own) of the same kind of optimizer with
        groups of the same sizes; state tensors are copied and cast to their parameter's dtype.
        Nothing changes when it fails."""
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        flags = {k for k, v in self._c.defaults().items() if isinstance(v, bool)}
        metadata = {"optimizer": self._c.name}
        updates = [self._saved_group(g, saved, flags, metadata)
                   for g, saved in enumerate(saved_groups)]
        tensors = {}
        for index, entries in state_dict["state"].items():
            for key, value in entries.items():
                if value is not None:  # torch's SGD keeps momentum_buffer=None without momentum
                    tensors[f"state.{int(index)}.{key}"] = _state_tensor(value)
        self._c.load_state_dict(tensors, metadata)  # checks everything before changing anything
        for group, (extras, given) in zip(groups, updates):
            group._replace(extras, given)

    def _saved_group(self, g, saved, flags, metadata):
        """Writes saved group `g` into the C++ metadata ("param_groups.<g>.<option>"); returns
        what its Python view keeps: (extras, given)."""
        prefix = f"param_groups.{g}."
        metadata[prefix + "params"] = ",".join(str(int(i)) for i in saved["params"])
        extras = {k: v for k, v in self.param_groups[g]._extras.items()
                  if k in self._python_options}
        given = {}
        for key, value in saved.items():
            if key == "params":
                continue
            if key in self._python_options:
                self._check_python_option(key, value)
                extras[key] = value
            elif key in self._hidden_options or (key not in self.defaults and
                                                 as_number(value) is None):
                extras[key] = value  # e.g. a group's name
            else:
                for part, number in self._cpp_values(key, value).items():
                    metadata[prefix + part] = (("true" if number else "false") if part in flags
                                               else repr(number))  # repr reads back exactly
                given[key] = value
        return extras, given
