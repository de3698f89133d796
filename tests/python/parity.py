"""Helpers for the parity tests: move values between Kiln and PyTorch through NumPy and compare
them with explicit tolerances (float32: rtol 1e-5, atol 1e-6 unless a test says why not)."""
import numpy as np
import torch

import kiln

TOL = {
    kiln.float32: dict(rtol=1e-5, atol=1e-6),
    kiln.float64: dict(rtol=1e-10, atol=1e-12),
}
TORCH_DTYPE = {kiln.float32: torch.float32, kiln.float64: torch.float64, kiln.int64: torch.int64,
               kiln.int32: torch.int32, kiln.bool: torch.bool, kiln.float16: torch.float16,
               kiln.bfloat16: torch.bfloat16, kiln.uint8: torch.uint8}


def to_torch(t, requires_grad=None):
    """A torch tensor with the same values (and requires_grad, unless given)."""
    if t.dtype is kiln.bfloat16:
        out = torch.from_numpy(t.detach().float().numpy().copy()).to(torch.bfloat16)
    else:
        out = torch.from_numpy(t.detach().numpy().copy())
    rg = t.requires_grad if requires_grad is None else requires_grad
    return out.requires_grad_(rg) if rg else out


def to_kiln(t, requires_grad=None):
    if t.dtype == torch.bfloat16:
        out = kiln.tensor(t.detach().float().numpy()).to(kiln.bfloat16)
    else:
        out = kiln.tensor(t.detach().numpy())
    rg = t.requires_grad if requires_grad is None else requires_grad
    return out.requires_grad_(rg) if rg else out


def numpy_of(x):
    if isinstance(x, torch.Tensor):
        x = x.detach()
        return (x.float() if x.dtype == torch.bfloat16 else x).numpy()
    x = x.detach()
    return (x.float() if x.dtype is kiln.bfloat16 else x).numpy()


def assert_close(k, t, rtol=None, atol=None, msg=""):
    """Kiln tensor `k` equals torch tensor `t`: same shape, same dtype, values within tolerance."""
    assert tuple(k.shape) == tuple(t.shape), f"{msg}: shape {tuple(k.shape)} != {tuple(t.shape)}"
    assert TORCH_DTYPE[k.dtype] == t.dtype, f"{msg}: dtype {k.dtype} != {t.dtype}"
    tol = TOL.get(k.dtype, dict(rtol=1e-2, atol=1e-2))
    np.testing.assert_allclose(numpy_of(k), numpy_of(t), rtol=rtol if rtol is not None else
                               tol["rtol"], atol=atol if atol is not None else tol["atol"],
                               err_msg=msg)


def same_weights(kiln_module, torch_module):
    """Copies torch_module's state_dict into kiln_module (through NumPy)."""
    state = {k: to_kiln(v, requires_grad=False) for k, v in torch_module.state_dict().items()}
    kiln_module.load_state_dict(state)
