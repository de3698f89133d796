"""kiln.autograd: reverse-mode differentiation with torch.autograd's API.

    backward, grad        gradients of tensors with respect to leaves or chosen inputs
    Function              custom differentiable operations (forward/backward in Python)
    functional            vjp, jvp, vhp, hvp, jacobian, hessian of whole functions
    gradcheck, gradgradcheck   finite-difference checks of first and second derivatives
"""
from .._grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from . import functional  # noqa: F401
from ._reverse import backward, grad  # noqa: F401
from .function import Function, FunctionCtx  # noqa: F401
from .gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401,F811

__all__ = ["backward", "grad", "Function", "FunctionCtx", "functional", "gradcheck",
           "gradgradcheck", "GradcheckError", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled"]
