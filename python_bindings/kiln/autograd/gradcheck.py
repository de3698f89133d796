"""Numerical gradient checks: kiln.autograd.gradcheck and gradgradcheck, with torch's names.

The comparison itself is Kiln's C++ check (include/kiln/gradcheck.h): the analytic Jacobian from
backward against central finite differences, element by element, passing where
|analytic - numerical| <= atol + rtol * |numerical|. Inputs that require grad must be float64.
Only PyTorch's reverse-mode check is made: the sparse, batched and forward-mode checks are
refused; fast_mode, nondet_tol, check_undefined_grad and check_grad_dtypes are accepted, and the
full Jacobian is always compared (fast_mode checks a random projection of it).
"""
from .. import _C
from .._grad_mode import enable_grad
from ._reverse import grad as _grad

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Raised by gradcheck and gradgradcheck when the Jacobians differ (raise_exception=True)."""


def _tensor_only_function(func, inputs):
    """func as a function of its tensor arguments only (the others held fixed), returning the
    list of its tensor outputs, which is what the C++ check takes."""
    positions = [i for i, x in enumerate(inputs) if isinstance(x, _C.Tensor)]

    def call(*tensors):
        args = list(inputs)
        for pos, t in zip(positions, tensors):
            args[pos] = t
        out = func(*args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o for o in outs if isinstance(o, _C.Tensor)]

    return call, [inputs[i] for i in positions]


def _check(func, inputs, eps, atol, rtol, raise_exception, label):
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    fn, tensors = _tensor_only_function(func, inputs)
    ok, message = _C._gradcheck(fn, tensors, eps, atol, rtol)
    if not ok and raise_exception:
        raise GradcheckError(f"{label}{message}")
    return ok


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              check_sparse_nnz=False, nondet_tol=0.0, check_undefined_grad=True,
              check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True,
              fast_mode=False):
    """True when the gradients of func at `inputs` (a tensor or a tuple) match finite
    differences; otherwise raises GradcheckError (or returns False)."""
    _refuse_unsupported({"check_sparse_nnz=True": check_sparse_nnz,
                         "check_batched_grad=True": check_batched_grad,
                         "check_batched_forward_grad=True": check_batched_forward_grad,
                         "check_forward_ad=True": check_forward_ad,
                         "check_backward_ad=False": not check_backward_ad})
    return _check(func, inputs, eps, atol, rtol, raise_exception, "")


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False):
    """gradcheck of the backward itself: the function (inputs, grad_outputs) -> gradients of
    func's outputs weighted by grad_outputs (random float64 values when not given)."""
    _refuse_unsupported({"check_batched_grad=True": check_batched_grad,
                         "check_fwd_over_rev=True": check_fwd_over_rev,
                         "check_rev_over_rev=False": not check_rev_over_rev})
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    fn, tensors = _tensor_only_function(func, inputs)
    diff = [i for i, t in enumerate(tensors) if t.requires_grad]
    if grad_outputs is None:
        from .. import randn
        with enable_grad():
            outputs = fn(*tensors)
        grad_outputs = tuple(randn(*o.shape, dtype=o.dtype, requires_grad=True)
                             for o in outputs if o.requires_grad)
    else:
        grad_outputs = tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else \
            (grad_outputs,)
    n = len(tensors)

    def backward_function(*args):
        with enable_grad():  # the finite differences call this under no_grad
            xs, gos = args[:n], args[n:]
            outs = [o for o in fn(*xs) if o.requires_grad]
            grads = _grad(outs, [xs[i] for i in diff], gos, create_graph=True,
                          allow_unused=True)
        return [g if g is not None else xs[i].new_zeros(xs[i].shape)
                for g, i in zip(grads, diff)]

    return _check(backward_function, tensors + list(grad_outputs), eps, atol, rtol,
                  raise_exception, "gradgradcheck (second order): ")


def _refuse_unsupported(flags):
    used = [name for name, value in flags.items() if value]
    if used:
        raise NotImplementedError(f"gradcheck: {', '.join(used)} is not supported by Kiln "
                                  f"(it checks the reverse-mode Jacobian only)")
