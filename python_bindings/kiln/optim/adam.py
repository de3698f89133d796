"""kiln.optim.Adam (L2 weight decay in the gradient, optional AMSGrad), as torch.optim.Adam
(PyTorch 1.13); the update is kiln::optim::Adam. torch's `betas` tuple is the C++ options
beta1 and beta2.

`fused`: None runs the fused step (one kernel per group) on CUDA and the composite elsewhere,
True the fused step on any device (torch 1.13 allows CUDA only), False always the composite;
they agree to rounding. The default is torch 1.13's, False, which param_groups and state_dict()
show as torch does; pass fused=None (or True) for the fused step on CUDA. `foreach` and
`capturable` are accepted and ignored (the step is one C++ call whatever their values)."""
from .. import _C
from . import _torch_options as opts
from ._native import NativeOptimizer


def check_adam_arguments(lr, betas, eps, weight_decay):
    """torch's checks and messages, shared with AdamW."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(NativeOptimizer):
    _cpp = _C._optim.Adam
    _tuple_options = {"betas": ("beta1", "beta2")}
    _tuple_parts = frozenset(("beta1", "beta2"))
    _tristate_options = frozenset(("fused",))
    _python_options = {"maximize": opts.MAXIMIZE, "foreach": opts.FOREACH,
                       "capturable": opts.CAPTURABLE, "differentiable": opts.DIFFERENTIABLE}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=False):
        check_adam_arguments(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
