"""kiln.optim.AdamW (decoupled weight decay), as torch.optim.AdamW (PyTorch 1.13); the update is
kiln::optim::AdamW.

Beyond torch 1.13: `fused` as kiln.optim.Adam's, default None (the fused step on CUDA). torch
1.13's AdamW has no such option, so param_groups and state_dict() do not show it. `foreach` and
`capturable` are accepted and ignored."""
from .. import _C
from . import _torch_options as opts
from ._native import NativeOptimizer
from .adam import check_adam_arguments


class AdamW(NativeOptimizer):
    _cpp = _C._optim.AdamW
    _tuple_options = {"betas": ("beta1", "beta2")}
    _tuple_parts = frozenset(("beta1", "beta2"))
    _tristate_options = frozenset(("fused",))
    _hidden_options = frozenset(("fused",))
    _python_options = {"foreach": opts.FOREACH, "maximize": opts.MAXIMIZE,
                       "capturable": opts.CAPTURABLE}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False, fused=None):
        check_adam_arguments(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        foreach=foreach, maximize=maximize, capturable=capturable)
        super().__init__(params, defaults, hidden=dict(fused=fused))
