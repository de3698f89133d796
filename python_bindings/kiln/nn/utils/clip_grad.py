"""clip_grad_norm_ and clip_grad_value_ (torch.nn.utils.clip_grad), computed in C++
(kiln::optim::clip_grad_norm_)."""
from ... import _C
from ..._tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _as_list(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scales the gradients in place so that their joint norm (as if concatenated) is at most
    max_norm; returns that norm before clipping as a 0-d tensor (of the gradients' dtype), like
    torch. norm_type may be float('inf'). RuntimeError for a non-finite norm when
    error_if_nonfinite."""
    params = [p for p in _as_list(parameters) if p.grad is not None]
    if not params:
        return _C._full([], 0.0, _C.float32, None, False)
    grad = params[0].grad
    total = _C._nn.clip_grad_norm_(params, float(max_norm), float(norm_type),
                                   error_if_nonfinite)
    return _C._full([], total, grad.dtype, grad.device, False)


def clip_grad_value_(parameters, clip_value):
    """Clamps every gradient element into [-clip_value, clip_value], in place."""
    _C._nn.clip_grad_value_(_as_list(parameters), float(clip_value))
