"""Unary ops and activations against PyTorch: values, dtypes and input gradients in float32 and
float64, integer inputs' result dtypes, the in-place forms, and the gradient at kinks (0 for
abs/relu, like torch)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kiln
from test_ops_helpers import FLOATS, check_parity, make_input, to_kiln, assert_close

# name -> (kiln fn, torch fn, input domain for make_input)
UNARY = {
    "neg": (kiln.neg, torch.neg, {}),
    "negative": (kiln.negative, torch.negative, {}),
    "exp": (kiln.exp, torch.exp, {}),
    "log": (kiln.log, torch.log, dict(low=0.1, high=3)),
    "log1p": (kiln.log1p, torch.log1p, dict(low=-0.9, high=3)),
    "expm1": (kiln.expm1, torch.expm1, {}),
    "sqrt": (kiln.sqrt, torch.sqrt, dict(low=0.1, high=3)),
    "rsqrt": (kiln.rsqrt, torch.rsqrt, dict(low=0.1, high=3)),
    "abs": (kiln.abs, torch.abs, dict(away_from=0)),
    "sign": (kiln.sign, torch.sign, dict(away_from=0)),
    "sin": (kiln.sin, torch.sin, {}),
    "cos": (kiln.cos, torch.cos, {}),
    "erf": (kiln.erf, torch.erf, {}),
    "reciprocal": (kiln.reciprocal, torch.reciprocal, dict(away_from=0)),
    "square": (kiln.square, torch.square, {}),
    "floor": (kiln.floor, torch.floor, {}),
    "ceil": (kiln.ceil, torch.ceil, {}),
    "round": (kiln.round, torch.round, {}),
    "relu": (kiln.relu, torch.relu, dict(away_from=0)),
    "sigmoid": (kiln.sigmoid, torch.sigmoid, {}),
    "tanh": (kiln.tanh, torch.tanh, {}),
    "leaky_relu": (lambda x: kiln.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2),
                   dict(away_from=0)),
    "elu": (lambda x: kiln.elu(x, alpha=0.7), lambda x: F.elu(x, alpha=0.7), dict(away_from=0)),
    "gelu": (kiln.gelu, F.gelu, {}),
    "gelu_tanh": (lambda x: kiln.gelu(x, approximate="tanh"),
                  lambda x: F.gelu(x, approximate="tanh"), {}),
    "silu": (kiln.silu, F.silu, {}),
    "softplus": (lambda x: kiln.softplus(x, beta=2, threshold=3),
                 lambda x: F.softplus(x, beta=2, threshold=3), dict(low=-3, high=3)),
}


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_function(name, dtype):
    kfn, tfn, domain = UNARY[name]
    x = make_input((3, 4), dtype, **domain)
    check_parity(kfn, tfn, [x], msg=name)


METHODS = ["neg", "negative", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sign",
           "sin", "cos", "erf", "reciprocal", "square", "floor", "ceil", "round", "relu",
           "sigmoid", "tanh"]


@pytest.mark.parametrize("name", METHODS)
def test_unary_method_on_strided_input(name):
    domain = UNARY[name][2]
    x = make_input((4, 3), kiln.float64, **domain).t()  # non-contiguous
    check_parity(lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), [x], msg=name)


INPLACE = ["neg_", "exp_", "sqrt_", "relu_", "sigmoid_", "tanh_"]


@pytest.mark.parametrize("name", INPLACE)
def test_unary_inplace_on_non_leaf(name):
    domain = UNARY[name[:-1]][2]
    x = make_input((2, 3), kiln.float32, **domain)

    def on_a_copy(a):
        y = a * 1
        out = getattr(y, name)()
        assert out is y  # in-place ops return self
        return y
    check_parity(on_a_copy, on_a_copy, [x], msg=name)


@pytest.mark.parametrize("name", ["neg", "abs", "sign", "square", "floor", "ceil", "round",
                                  "exp", "sqrt", "sin", "sigmoid", "relu", "reciprocal",
                                  "logical_not", "isnan", "isfinite"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
def test_unary_result_dtype_of_integer_input(name, dtype):
    t = torch.tensor([[0, 1, 3], [2, 1, 0]]).to(dtype)
    if dtype == torch.bool and name in ("sign", "square"):  # no bool kernels in Kiln
        with pytest.raises(TypeError, match=f"{name}: not implemented for bool"):
            getattr(kiln, name)(to_kiln(t))
        return
    try:
        expected = getattr(torch, name)(t)
    except RuntimeError:
        with pytest.raises((TypeError, ValueError, RuntimeError)):
            getattr(kiln, name)(to_kiln(t))
        return
    assert_close(getattr(kiln, name)(to_kiln(t)), expected, msg=f"{name} {dtype}")


def test_round_halves_to_even_like_torch():
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])
    assert_close(kiln.round(to_kiln(x)), torch.round(x))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_gradient_at_kinks_matches_torch(dtype):
    x = torch.tensor([-1.0, 0.0, 2.0]).to(torch.float64 if dtype is kiln.float64 else torch.float32)
    for kfn, tfn in [(kiln.abs, torch.abs), (kiln.relu, torch.relu), (kiln.sign, torch.sign),
                     (lambda a: kiln.leaky_relu(a, 0.1), lambda a: F.leaky_relu(a, 0.1)),
                     (kiln.floor, torch.floor)]:
        check_parity(kfn, tfn, [x])


def test_isnan_isfinite_on_special_values():
    x = torch.tensor([0.0, float("nan"), float("inf"), -float("inf"), 1.0])
    for name in ["isnan", "isfinite"]:
        assert_close(getattr(kiln, name)(to_kiln(x)), getattr(torch, name)(x), msg=name)
        assert_close(getattr(to_kiln(x), name)(), getattr(x, name)(), msg=name)


def test_sqrt_and_log_of_zero_and_negative_like_torch():
    x = torch.tensor([0.0, -1.0, 4.0])
    for name in ["sqrt", "log", "rsqrt", "reciprocal"]:
        k = getattr(kiln, name)(to_kiln(x)).numpy()
        np.testing.assert_array_equal(k, getattr(torch, name)(x).numpy(), err_msg=name)


def test_dropout_function_scales_kept_values():
    x = kiln.ones(200, 50)
    y = kiln.dropout(x, 0.25, True)
    kept = y.numpy() != 0
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75, rtol=1e-6)
    assert kiln.equal(kiln.dropout(x, 0.25, False), x)
