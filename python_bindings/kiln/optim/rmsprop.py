"""kiln.optim.RMSprop, plain or centered, with momentum and weight decay, as torch.optim.RMSprop
(PyTorch 1.13); the update is kiln::optim::RMSprop."""
from .. import _C
from . import _torch_options as opts
from ._native import NativeOptimizer


class RMSprop(NativeOptimizer):
    _cpp = _C._optim.RMSprop
    _step_is_tensor = False
    _python_options = {"foreach": opts.FOREACH, "maximize": opts.MAXIMIZE,
                       "differentiable": opts.DIFFERENTIABLE}

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, foreach=None, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)
