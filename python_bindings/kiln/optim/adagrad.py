"""kiln.optim.Adagrad, as torch.optim.Adagrad (PyTorch 1.13); the update is kiln::optim::Adagrad.
Like torch, every parameter has its state ('step', 'sum') from the start."""
from .. import _C
from . import _torch_options as opts
from ._native import NativeOptimizer


class Adagrad(NativeOptimizer):
    _cpp = _C._optim.Adagrad
    _python_options = {"foreach": opts.FOREACH, "maximize": opts.MAXIMIZE}

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)
