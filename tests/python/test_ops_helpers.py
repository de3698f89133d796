"""Shared harness of the op parity tests (test_ops_*.py); it holds no tests itself.

check_parity runs one op in Kiln and in PyTorch on the same inputs and compares the output
(shape, dtype, values) and, for floating inputs, the gradients of every input under the
backward of a random-weighted sum of the output (the weights make every output element count
with a different factor, so a gradient that is right only on average still fails)."""
import numpy as np
import torch

import kiln
from parity import TORCH_DTYPE, assert_close, to_kiln, to_torch

FLOATS = [kiln.float32, kiln.float64]


def torch_dtype(kd):
    return TORCH_DTYPE[kd]


def make_input(shape, dtype=kiln.float32, low=-2.0, high=2.0, away_from=None):
    """A torch tensor of uniform values in [low, high); with away_from, values closer than 0.1 to
    that point are pushed away (kinks and poles make finite gradients differ by convention)."""
    a = np.random.uniform(low, high, size=shape)
    if away_from is not None:
        close = np.abs(a - away_from) < 0.1
        a[close] = away_from + np.where(a[close] >= away_from, 0.1, -0.1)
    return torch.from_numpy(np.asarray(a)).to(torch_dtype(dtype))


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def check_parity(kiln_fn, torch_fn, inputs, grad=True, rtol=None, atol=None, msg=""):
    """inputs: torch tensors (or other arguments, passed to both sides unchanged)."""
    t_in = [x.detach().clone().requires_grad_(grad and x.is_floating_point())
            if isinstance(x, torch.Tensor) else x for x in inputs]
    k_in = [to_kiln(x) if isinstance(x, torch.Tensor) else x for x in t_in]
    t_out = _outputs(torch_fn(*t_in))
    k_out = _outputs(kiln_fn(*k_in))
    assert len(k_out) == len(t_out), msg
    for i, (k, t) in enumerate(zip(k_out, t_out)):
        assert_close(k, t, rtol, atol, msg=f"{msg} output {i}")
    needs_grad = [i for i, x in enumerate(t_in)
                  if isinstance(x, torch.Tensor) and x.requires_grad]
    diff_outs = [i for i, t in enumerate(t_out) if t.requires_grad]
    if not needs_grad or not diff_outs:
        return k_out, t_out
    t_loss, k_loss = 0, 0
    for i in diff_outs:
        w = torch.rand(t_out[i].shape, dtype=t_out[i].dtype) + 0.5
        t_loss = t_loss + (t_out[i] * w).sum()
        k_loss = k_loss + (k_out[i] * to_kiln(w)).sum()
    t_loss.backward()
    k_loss.backward()
    for i in needs_grad:
        t_grad, k_grad = t_in[i].grad, k_in[i].grad
        if t_grad is None:  # not part of torch's graph: Kiln may leave it out or send zeros
            assert k_grad is None or not k_grad.numpy().any(), f"{msg}: gradient for input {i}"
            continue
        if k_grad is None:  # torch may materialise zeros where Kiln's graph has no path
            assert not t_grad.any(), f"{msg}: no gradient for input {i}"
            continue
        assert_close(k_grad, t_grad, rtol, atol, msg=f"{msg} grad of input {i}")
    return k_out, t_out


__all__ = ["FLOATS", "check_parity", "make_input", "torch_dtype", "to_kiln", "to_torch",
           "assert_close"]
