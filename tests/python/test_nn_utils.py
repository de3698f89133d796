"""kiln.nn.utils vs torch.nn.utils: clip_grad_norm_ (every norm type, with and without
clipping), clip_grad_value_, parameters_to_vector / vector_to_parameters."""
import math

import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
from kiln.nn.utils import (clip_grad_norm_, clip_grad_value_, parameters_to_vector,
                           vector_to_parameters)
from parity import assert_close, to_kiln


def _params_with_grads(scale, dtype=torch.float32):
    """Three torch parameters with gradients (one without) and their Kiln copies."""
    shapes = [(3, 4), (4,), (2, 2)]
    tparams = [torch.nn.Parameter(torch.randn(s, dtype=dtype)) for s in shapes]
    for p in tparams[:2]:
        p.grad = torch.randn(p.shape, dtype=dtype) * scale
    kparams = [nn.Parameter(to_kiln(p.detach())) for p in tparams]
    for k, t in zip(kparams, tparams):
        if t.grad is not None:
            k.grad = to_kiln(t.grad)
    return kparams, tparams


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("scale", [10.0, 0.01])  # clipped, and left alone
def test_clip_grad_norm_matches_torch(norm_type, scale, dtype):
    kparams, tparams = _params_with_grads(scale, dtype)
    t_total = torch.nn.utils.clip_grad_norm_(tparams, 1.0, norm_type)
    k_total = clip_grad_norm_(kparams, 1.0, norm_type)
    assert_close(k_total, t_total, msg="total norm")
    for k, t in zip(kparams, tparams):
        if t.grad is None:
            assert k.grad is None
        else:
            assert_close(k.grad, t.grad, msg="clipped grad")


def test_clip_grad_norm_single_tensor_and_generator():
    kparams, tparams = _params_with_grads(5.0)
    t_total = torch.nn.utils.clip_grad_norm_(tparams[0], 0.5)
    assert_close(clip_grad_norm_(kparams[0], 0.5), t_total)
    module = nn.Linear(3, 2)
    module(kiln.randn(4, 3)).sum().backward()
    total = clip_grad_norm_(module.parameters(), max_norm=1e-3)
    grads = np.concatenate([p.grad.numpy().ravel() for p in module.parameters()])
    assert total.item() > 1e-3
    assert np.linalg.norm(grads) == pytest.approx(1e-3, rel=1e-4)


def test_clip_grad_norm_without_grads_and_nonfinite():
    assert clip_grad_norm_([nn.Parameter(kiln.randn(2))], 1.0).item() == 0.0
    p = nn.Parameter(kiln.randn(2))
    p.grad = kiln.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch():
    kparams, tparams = _params_with_grads(3.0)
    assert clip_grad_value_(kparams, 0.7) is None
    torch.nn.utils.clip_grad_value_(tparams, 0.7)
    for k, t in zip(kparams, tparams):
        if t.grad is not None:
            assert_close(k.grad, t.grad)


def test_parameters_to_vector_and_back():
    lin = nn.Linear(3, 2)
    vec = parameters_to_vector(lin.parameters())
    expected = np.concatenate([lin.weight.detach().numpy().ravel(), lin.bias.detach().numpy()])
    np.testing.assert_array_equal(vec.detach().numpy(), expected)
    new = kiln.arange(8, dtype=kiln.float32)
    vector_to_parameters(new, lin.parameters())
    np.testing.assert_array_equal(lin.weight.detach().numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(lin.bias.detach().numpy(), [6, 7])
    assert isinstance(lin.weight, nn.Parameter) and lin.weight.requires_grad
    with pytest.raises(TypeError):
        vector_to_parameters([1.0], lin.parameters())
