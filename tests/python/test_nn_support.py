"""Shared helpers of the kiln.nn parity tests (this file holds no tests): run the same
computation in Kiln and in PyTorch on the same inputs and weights, then compare the outputs and
the gradients of the inputs and parameters."""
import torch

import kiln
from parity import TORCH_DTYPE, assert_close, same_weights, to_kiln

FLOAT_DTYPES = [kiln.float32, kiln.float64]


def torch_dtype(dtype):
    return TORCH_DTYPE[dtype]


def compare_forward_backward(kiln_fn, torch_fn, inputs, param_pairs=(), rtol=None, atol=None,
                             msg=""):
    """kiln_fn(*kiln_inputs) and torch_fn(*inputs) agree, and so do the gradients of the
    floating-point inputs and of each (kiln_param, torch_param) pair after backward of a
    random upstream gradient (the same one for both)."""
    torch_inputs = [x.detach().clone().requires_grad_(x.is_floating_point())
                    if isinstance(x, torch.Tensor) else x for x in inputs]
    kiln_inputs = [to_kiln(x) if isinstance(x, torch.Tensor) else x for x in torch_inputs]
    t_out = torch_fn(*torch_inputs)
    k_out = kiln_fn(*kiln_inputs)
    assert_close(k_out, t_out, rtol, atol, msg=f"{msg} output")
    if not t_out.requires_grad:
        return k_out, t_out
    upstream = torch.randn(t_out.shape, dtype=t_out.dtype)
    t_out.backward(upstream)
    k_out.backward(to_kiln(upstream))
    for i, (k, t) in enumerate(zip(kiln_inputs, torch_inputs)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            assert (k.grad is None) == (t.grad is None), f"{msg} input {i} grad presence"
            if t.grad is not None:
                assert_close(k.grad, t.grad, rtol, atol, msg=f"{msg} input {i} grad")
    for name, (k, t) in param_pairs:
        assert (k.grad is None) == (t.grad is None), f"{msg} {name} grad presence"
        if t.grad is not None:
            assert_close(k.grad, t.grad, rtol, atol, msg=f"{msg} {name} grad")
    return k_out, t_out


def compare_modules(kiln_module, torch_module, *inputs, dtype=kiln.float32, rtol=None,
                    atol=None):
    """Both modules in `dtype` with torch's weights copied into Kiln's (same parameter names
    required), then compare_forward_backward on `inputs` (torch tensors; floating-point ones
    are cast to dtype)."""
    kiln_module.to(dtype)
    torch_module.to(torch_dtype(dtype))
    same_weights(kiln_module, torch_module)
    k_params = dict(kiln_module.named_parameters())
    t_params = dict(torch_module.named_parameters())
    assert list(k_params) == list(t_params)
    inputs = [x.to(torch_dtype(dtype)) if isinstance(x, torch.Tensor) and x.is_floating_point()
              else x for x in inputs]
    pairs = [(name, (k_params[name], t_params[name])) for name in t_params]
    return compare_forward_backward(kiln_module, torch_module, inputs, pairs, rtol, atol,
                                    msg=type(torch_module).__name__)
