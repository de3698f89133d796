"""Activation modules and functions vs PyTorch (float32 and float64): outputs, input gradients,
reprs, the in-place forms and softmax's implicit dimension."""
import warnings

import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from parity import assert_close, to_kiln
from test_nn_support import FLOAT_DTYPES, compare_forward_backward, compare_modules, torch_dtype

# (kiln module, torch module): constructor arguments exercised, repr compared.
MODULES = [
    (lambda m: m.ReLU()),
    (lambda m: m.ReLU6()),
    (lambda m: m.Hardtanh(-0.5, 0.75)),
    (lambda m: m.LeakyReLU()),
    (lambda m: m.LeakyReLU(0.2)),
    (lambda m: m.ELU()),
    (lambda m: m.ELU(alpha=0.5)),
    (lambda m: m.GELU()),
    (lambda m: m.GELU(approximate="tanh")),
    (lambda m: m.SiLU()),
    (lambda m: m.Sigmoid()),
    (lambda m: m.Tanh()),
    (lambda m: m.Softplus()),
    (lambda m: m.Softplus(beta=2, threshold=1.5)),
    (lambda m: m.Softmax(dim=1)),
    (lambda m: m.Softmax(dim=-1)),
    (lambda m: m.Softmin(dim=0)),
    (lambda m: m.LogSoftmax(dim=1)),
]


def _input(dtype):
    # Away from the kinks at 0 (and at hardtanh's bounds), where the one-sided gradient is a
    # convention; scaled so that softplus's threshold and the clamps are crossed.
    x = torch.randn(4, 6, dtype=torch_dtype(dtype)) * 3
    return torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("make", MODULES)
def test_activation_module(make, dtype):
    k, t = make(nn), make(torch.nn)
    assert repr(k) == repr(t)
    compare_modules(k, t, _input(dtype), dtype=dtype)


def test_inplace_reprs():
    for make in (lambda m: m.ReLU(inplace=True), lambda m: m.ReLU6(inplace=True),
                 lambda m: m.LeakyReLU(0.1, inplace=True), lambda m: m.ELU(inplace=True),
                 lambda m: m.SiLU(inplace=True), lambda m: m.Hardtanh(inplace=True)):
        assert repr(make(nn)) == repr(make(torch.nn))


# functional name -> extra arguments; each has an inplace=True form.
INPLACE = [("relu", ()), ("relu6", ()), ("hardtanh", (-0.5, 0.5)), ("leaky_relu", (0.3,)),
           ("elu", (0.7,)), ("silu", ())]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name,args", INPLACE)
def test_inplace_functional_forms(name, args, dtype):
    kfn, tfn = getattr(F, name), getattr(torch.nn.functional, name)
    x = _input(dtype)
    # Out of place first, then in place on a non-leaf (x * 1), which must give the same output
    # and the same gradient through the overwritten tensor.
    compare_forward_backward(lambda a: kfn(a, *args), lambda a: tfn(a, *args), [x])
    compare_forward_backward(lambda a: kfn(a * 1, *args, inplace=True),
                             lambda a: tfn(a * 1, *args, inplace=True), [x])
    # Without autograd the input object itself holds the result.
    k = to_kiln(x)
    out = kfn(k, *args, inplace=True)
    assert_close(k, tfn(x, *args))
    assert_close(out, tfn(x, *args))


def test_inplace_on_leaf_that_requires_grad_is_refused():
    with pytest.raises(RuntimeError):
        F.elu(kiln.randn(3).requires_grad_(), inplace=True)
    with pytest.raises(RuntimeError):
        F.relu(kiln.randn(3).requires_grad_(), inplace=True)


def test_trailing_underscore_aliases():
    x = torch.randn(5)
    for name in ("relu_", "elu_", "leaky_relu_", "hardtanh_"):
        k = to_kiln(x)
        getattr(F, name)(k)
        assert_close(k, getattr(torch.nn.functional, name)(x.clone()), msg=name)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_functional_activations(dtype):
    x = _input(dtype)
    cases = [
        (F.gelu, torch.nn.functional.gelu),
        (lambda a: F.gelu(a, approximate="tanh"),
         lambda a: torch.nn.functional.gelu(a, approximate="tanh")),
        (F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh),
        (lambda a: F.softplus(a, 0.5, 3), lambda a: torch.nn.functional.softplus(a, 0.5, 3)),
        (lambda a: F.softmax(a, 0), lambda a: torch.nn.functional.softmax(a, 0)),
        (lambda a: F.log_softmax(a, -1), lambda a: torch.nn.functional.log_softmax(a, -1)),
        (lambda a: F.softmin(a, 1), lambda a: torch.nn.functional.softmin(a, 1)),
    ]
    for kfn, tfn in cases:
        compare_forward_backward(kfn, tfn, [x])


def test_softmax_dtype_argument():
    x = torch.randn(3, 4)
    compare_forward_backward(lambda a: F.softmax(a, 1, dtype=kiln.float64),
                             lambda a: torch.nn.functional.softmax(a, 1, dtype=torch.float64), [x])
    compare_forward_backward(lambda a: F.log_softmax(a, 0, dtype=kiln.float64),
                             lambda a: torch.nn.functional.log_softmax(a, 0, dtype=torch.float64),
                             [x])


@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 1), ((2, 3, 4), 0), ((2, 3, 4, 5), 1)])
def test_softmax_implicit_dim_follows_torch_legacy_rule(shape, dim):
    x = torch.randn(shape)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        k = F.softmax(to_kiln(x))
    assert_close(k, torch.softmax(x, dim))
    with pytest.warns(UserWarning, match="log_softmax"):
        k = nn.LogSoftmax()(to_kiln(x))
    assert_close(k, torch.log_softmax(x, dim))


def test_explicit_dim_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.softmax(kiln.randn(2, 3), dim=1)
        nn.Softmax(dim=0)(kiln.randn(2, 3))


def test_hardtanh_rejects_inverted_bounds():
    with pytest.raises(ValueError):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(ValueError):
        F.hardtanh(kiln.randn(2), 1.0, -1.0)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError):
        F.gelu(kiln.randn(2), approximate="fast")


def test_relu_values_by_hand():
    x = kiln.tensor([-2.0, -0.5, 0.0, 0.5, 7.0])
    np.testing.assert_array_equal(F.relu6(x).numpy(), [0, 0, 0, 0.5, 6])
    np.testing.assert_array_equal(nn.ReLU()(x).numpy(), [0, 0, 0, 0.5, 7])
