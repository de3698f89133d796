"""kiln.optim.AdamW (decoupled weight decay), as torch.optim.AdamW (PyTorch 1.13); the update is
kiln::optim::AdamW."""
from .. import _C
from . import _torch_options as opts
from ._native import NativeOptimizer
from .adam import check_adam_arguments


class AdamW(NativeOptimizer):
    _cpp = _C._optim.AdamW
    _tuple_options = {"betas": ("beta1", "beta2")}
    _tuple_parts = frozenset(("beta1", "beta2"))
    _python_options = {"foreach": opts.FOREACH, "maximize": opts.MAXIMIZE,
                       "capturable": opts.CAPTURABLE}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False):
        check_adam_arguments(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        foreach=foreach, maximize=maximize, capturable=capturable)
        super().__init__(params, defaults)
