"""kiln.optim.Optimizer: torch.optim.Optimizer's protocol (PyTorch 1.13) in plain Python.

Subclass it to write an optimizer in Python, exactly as with torch: `param_groups` is a list of
dicts, `state` a defaultdict keyed by parameter, and step() updates the parameters. Kiln's own
optimizers (SGD, Adam, ...) derive from it through _native.NativeOptimizer, which keeps groups
and state in C++ and replaces these plain containers with views of the C++ objects.
"""
import copy
import warnings
from collections import defaultdict

from .. import _C
from .._util import typename

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """The default of an option every parameter group must set (SGD's lr)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()




def group_dicts(params):
    """The constructor's `params` (tensors, or dicts with 'params') as a list of group dicts."""
    if isinstance(params, _C.Tensor):
        raise TypeError("params argument given to the optimizer should be an iterable of Tensors "
                        "or dicts, but got " + typename(params))
    groups = list(params)
    if len(groups) == 0:
        raise ValueError("optimizer got an empty parameter list")
    if not isinstance(groups[0], dict):
        groups = [{"params": groups}]
    return groups


def checked_params(param_group):
    """The group's parameters as a list, with torch's checks (ordered, tensors, leaves)."""
    if not isinstance(param_group, dict):
        raise TypeError("param group must be a dict, got " + typename(param_group))
    params = param_group["params"]
    if isinstance(params, _C.Tensor):
        return [params]
    if isinstance(params, (set, frozenset)):
        raise TypeError("optimizer parameters need to be organized in ordered collections, but "
                        "the ordering of tensors in sets will change between runs. Please use a "
                        "list instead.")
    params = list(params)
    for p in params:
        if not isinstance(p, _C.Tensor):
            raise TypeError("optimizer can only optimize Tensors, but one of the params is " +
                            typename(p))
        if not p.is_leaf:
            raise ValueError("can't optimize a non-leaf Tensor")
    return params


def check_disjoint(param_groups, params):
    """Refuses parameters already in another group (identity, as torch's set of tensors)."""
    seen = {id(p) for group in param_groups for p in group["params"]}
    if any(id(p) in seen for p in params):
        raise ValueError("some parameters appear in more than one parameter group")


def _copy_state_value(param, value, key=None):
    """A deep copy of a saved state value; floating tensors take the parameter's dtype and
    device, except 'step' (as torch's load_state_dict)."""
    if isinstance(value, _C.Tensor):
        if key != "step":
            if param.is_floating_point() and value.is_floating_point():
                value = value.to(param.dtype)
            value = value.to(param.device)
        return value.clone()
    if isinstance(value, dict):
        return {k: _copy_state_value(param, v, key=k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_state_value(param, v) for v in value)
    return copy.deepcopy(value)


class Optimizer:
    """Base class of all optimizers: `params` is an iterable of tensors or of dicts (parameter
    groups with their own options); `defaults` holds the options groups do not set."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        for param_group in group_dicts(params):
            self.add_param_group(param_group)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    def add_param_group(self, param_group):
        """Adds a group; options it does not set come from `defaults`."""
        params = checked_params(param_group)
        param_group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required optimization "
                                 "parameter " + name)
            param_group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error", stacklevel=3)
        check_disjoint(self.param_groups, params)
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=False):
        """Resets the gradients: to zeros (PyTorch 1.13's default) or to None."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif grad.grad_fn is not None or grad.requires_grad:
                    p.grad = grad.detach().new_zeros(grad.shape)  # cut the gradient's history
                else:
                    grad.zero_()

    def step(self, closure=None):
        """One update of the parameters; `closure` re-evaluates the loss and returns it."""
        raise NotImplementedError

    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}: parameters
        are numbered across groups in order."""
        index_of = {}
        param_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            param_groups.append(packed)
        state = {(index_of[id(k)] if isinstance(k, _C.Tensor) else k): v
                 for k, v in self.state.items()}
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict):
        """Restores a state_dict() of an optimizer with groups of the same sizes (copied, state
        tensors cast to their parameter's dtype and device)."""
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        param_of = {}
        for g, s in zip(groups, saved_groups):
            param_of.update(zip(s["params"], g["params"]))
        state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in param_of:
                state[param_of[key]] = _copy_state_value(param_of[key], value)
            else:
                state[key] = copy.deepcopy(value)
        param_groups = []
        for g, s in zip(groups, saved_groups):
            new_group = {k: copy.deepcopy(v) for k, v in s.items() if k != "params"}
            new_group["params"] = g["params"]
            param_groups.append(new_group)
        self.__setstate__({"state": state, "param_groups": param_groups})
