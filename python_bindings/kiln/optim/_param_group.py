"""ParamGroup: one entry of a Kiln optimizer's `param_groups`, a dict-like view of the C++ group.

Reads and writes go straight to the C++ group options, so `group['lr'] = 0.01` (what user code
and schedulers do) takes effect at the next step, and options the C++ schedulers change (lr,
momentum, Adam's beta1 through 'betas') read back changed. The view speaks torch's names:
Adam's C++ "beta1"/"beta2" appear as the tuple 'betas', and a tri-state option ('fused') reads
None/False/True. Options torch has and Kiln only accepts with one value (maximize, foreach, ...)
and keys that are not numbers (a group's 'name') live in Python beside the C++ options; so does
a key named like a hidden C++ option (SGD's 'fused', which torch's SGD groups lack).
"""
from collections.abc import MutableMapping
import numbers

from .. import _C

_MISSING = object()


def as_number(value):
    """`value` as a float when it is a real number (bool, int, float, NumPy scalar or a
    one-element tensor), else None."""
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, _C.Tensor) and value.numel() == 1:
        return float(value)
    return None


def _same_value(given, value):
    """Whether the Python value last written (an int 0, a list [0.9, 0.999]) still holds."""
    if given is _MISSING:
        return False
    if isinstance(value, tuple):
        return (isinstance(given, (tuple, list)) and len(given) == len(value) and
                all(as_number(g) == v for g, v in zip(given, value)))
    return as_number(given) == value


class ParamGroup(MutableMapping):
    """The parameter group `index` of a NativeOptimizer."""

    __slots__ = ("_optimizer", "_index", "_params", "_extras", "_given")

    def __init__(self, optimizer, index, params, extras, given):
        self._optimizer = optimizer
        self._index = index
        self._params = params
        self._extras = extras  # options kept in Python: torch-only options, non-numeric keys
        self._given = given    # the Python values last written, returned while they still hold

    def __getitem__(self, key):
        if key == "params":
            return self._params
        extra = self._extras.get(key, _MISSING)
        if extra is not _MISSING:
            return extra
        optimizer = self._optimizer
        parts = optimizer._tuple_options.get(key)
        if parts is not None:
            value = tuple(optimizer._c.get_option(self._index, part) for part in parts)
        elif key in optimizer._tuple_parts or key in optimizer._hidden_options:
            raise KeyError(key)
        elif key in optimizer._tristate_options:
            return optimizer._python_value(key, optimizer._c.get_option(self._index, key))
        else:
            value = optimizer._c.get_option(self._index, key)
        given = self._given.get(key, _MISSING)
        return given if _same_value(given, value) else value

    def __setitem__(self, key, value):
        optimizer = self._optimizer
        if key == "params":
            raise NotImplementedError("kiln.optim: a parameter group's 'params' cannot be "
                                      "replaced; add parameters with add_param_group")
        if key in optimizer._python_options:
            optimizer._check_python_option(key, value)
            self._extras[key] = value
            return
        if key in optimizer._hidden_options:
            self._given.pop(key, None)
            self._extras[key] = value
            return
        if (as_number(value) is None and key not in optimizer._tuple_options and
                key not in optimizer._tuple_parts and
                not optimizer._c.has_option(self._index, key)):
            self._given.pop(key, None)  # a new key that is not a number: kept in Python
            self._extras[key] = value
            return
        for part, number in optimizer._cpp_values(key, value).items():
            optimizer._c.set_option(self._index, part, number)
        self._extras.pop(key, None)
        self._given[key] = value

    def __delitem__(self, key):
        optimizer = self._optimizer
        if key == "params" or key in optimizer.defaults:
            raise ValueError(f"kiln.optim.{type(optimizer).__name__}: the option '{key}' cannot "
                             "be removed from a parameter group")
        if key in self._extras:
            del self._extras[key]
        elif key in optimizer._tuple_parts or key in optimizer._hidden_options:
            raise KeyError(key)
        else:
            optimizer._c.erase_option(self._index, key)
        self._given.pop(key, None)

    def __iter__(self):
        optimizer = self._optimizer
        yield "params"
        yield from optimizer.defaults
        for key in optimizer._c.options(self._index):
            if (key not in optimizer.defaults and key not in optimizer._tuple_parts and
                    key not in optimizer._hidden_options):
                yield key
        for key in self._extras:
            if key not in optimizer.defaults:
                yield key

    def __len__(self):
        return sum(1 for _ in self)

    def __contains__(self, key):
        if key == "params" or key in self._extras or key in self._optimizer._tuple_options:
            return True
        return (key not in self._optimizer._tuple_parts and
                key not in self._optimizer._hidden_options and
                self._optimizer._c.has_option(self._index, key))

    def copy(self):
        return dict(self)

    def __repr__(self):
        return repr(dict(self))

    def _replace(self, extras, given):
        """After load_state_dict: the saved group's Python-side options."""
        self._extras = extras
        self._given = given
