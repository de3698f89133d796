"""kiln.optim.SGD: stochastic gradient descent with momentum, dampening, Nesterov momentum and
weight decay, as torch.optim.SGD (PyTorch 1.13); the update is kiln::optim::SGD.

Beyond torch 1.13: `fused` (None: the fused step, one kernel per group, on CUDA and the
composite elsewhere; True: fused on any device; False: the composite). torch 1.13's SGD has no
such option, so param_groups and state_dict() do not show it. `foreach` is accepted and ignored
(the step is one C++ call whatever its value)."""
from .. import _C
from . import _torch_options as opts
from ._native import NativeOptimizer
from .optimizer import required


class SGD(NativeOptimizer):
    _cpp = _C._optim.SGD
    _counts_steps = False
    _tristate_options = frozenset(("fused",))
    _hidden_options = frozenset(("fused",))
    _python_options = {"maximize": opts.MAXIMIZE, "foreach": opts.FOREACH,
                       "differentiable": opts.DIFFERENTIABLE}

    def __init__(self, params, lr=required, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable)
        super().__init__(params, defaults, hidden=dict(fused=fused))
