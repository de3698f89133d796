"""kiln.nn.init: gains and fans equal torch's; every initialiser fills in place, returns the same
object, stays within torch's bounds and has the distribution's statistics; layers' default
initialisation follows torch's formulas."""
import math

import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
import kiln.nn.init as init


@pytest.mark.parametrize("name,param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 1), ("selu", None),
])
def test_calculate_gain_matches_torch(name, param):
    expected = torch.nn.init.calculate_gain(name, param)
    got = init.calculate_gain(name, param)
    assert got == pytest.approx(expected, rel=1e-15) and type(got) is type(expected)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 2), (2, 7, 3)])
def test_fans_match_torch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(kiln.empty(*shape)) == expected
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(kiln.empty(3))


def _filled(fn, shape=(200, 300), **kwargs):
    t = nn.Parameter(kiln.empty(*shape))
    out = fn(t, **kwargs)
    assert out is t  # in place, returns the same object
    assert t.requires_grad and t.grad_fn is None  # no history recorded
    return t.detach().numpy().astype(np.float64)


def test_uniform_and_normal_statistics():
    u = _filled(init.uniform_, a=-2.0, b=3.0)
    assert u.min() >= -2.0 and u.max() <= 3.0
    assert abs(u.mean() - 0.5) < 0.03 and abs(u.std() - 5 / math.sqrt(12)) < 0.03
    n = _filled(init.normal_, mean=1.5, std=0.5)
    assert abs(n.mean() - 1.5) < 0.01 and abs(n.std() - 0.5) < 0.01
    d = _filled(init.normal_)
    assert abs(d.mean()) < 0.02 and abs(d.std() - 1) < 0.02


def test_constant_ones_zeros_eye():
    assert (_filled(init.constant_, val=0.3) == np.float32(0.3)).all()
    assert (_filled(init.ones_) == 1).all()
    assert (_filled(init.zeros_) == 0).all()
    np.testing.assert_array_equal(_filled(init.eye_, shape=(3, 4)), np.eye(3, 4))
    with pytest.raises(ValueError):
        init.eye_(kiln.empty(2, 2, 2))


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier(gain):
    fan_in, fan_out = 300, 200
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    u = _filled(init.xavier_uniform_, gain=gain)
    assert np.abs(u).max() <= bound and np.abs(u).max() > 0.99 * bound
    assert abs(u.std() - bound / math.sqrt(3)) < 0.02 * bound
    n = _filled(init.xavier_normal_, gain=gain)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    assert abs(n.std() - std) < 0.02 * std and abs(n.mean()) < 0.02 * std


@pytest.mark.parametrize("a,mode,nonlinearity", [
    (0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
    (0, "fan_out", "relu"), (0.1, "fan_out", "leaky_relu"), (0, "fan_in", "tanh"),
])
def test_kaiming(a, mode, nonlinearity):
    # Bounds exactly torch's formula: gain(nonlinearity, a) * sqrt(3 / fan).
    fan = 300 if mode == "fan_in" else 200
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    u = _filled(init.kaiming_uniform_, a=a, mode=mode, nonlinearity=nonlinearity)
    assert np.abs(u).max() <= bound * (1 + 1e-6) and np.abs(u).max() > 0.99 * bound
    n = _filled(init.kaiming_normal_, a=a, mode=mode, nonlinearity=nonlinearity)
    assert abs(n.std() - std) < 0.02 * std


def test_kaiming_errors_and_empty_tensor():
    with pytest.raises(ValueError, match="Mode"):
        init.kaiming_uniform_(kiln.empty(3, 3), mode="fan_avg")
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(kiln.empty(0, 3))


def test_orthogonal():
    q = _filled(init.orthogonal_, shape=(6, 4), gain=2.0)
    np.testing.assert_allclose(q.T @ q, 4 * np.eye(4), atol=1e-5)
    wide = _filled(init.orthogonal_, shape=(3, 5))
    np.testing.assert_allclose(wide @ wide.T, np.eye(3), atol=1e-5)


def test_reproducible_with_manual_seed():
    kiln.manual_seed(7)
    a = init.normal_(kiln.empty(5)).numpy()
    kiln.manual_seed(7)
    np.testing.assert_array_equal(init.normal_(kiln.empty(5)).numpy(), a)


def test_linear_and_bilinear_default_initialisation_bounds():
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) reduces to this
    for p in (lin.weight, lin.bias):
        v = p.detach().numpy()
        assert np.abs(v).max() <= bound and np.abs(v).max() > 0.95 * bound
    w = lin.weight.detach().numpy()
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    bil = nn.Bilinear(50, 7, 30)
    bound = 1 / math.sqrt(50)
    for p in (bil.weight, bil.bias):
        v = p.detach().numpy()
        assert np.abs(v).max() <= bound and np.abs(v).max() > 0.9 * bound
    with pytest.warns(UserWarning, match="zero-element"):  # as torch
        empty = nn.Linear(0, 3)
    assert empty.weight.shape == (3, 0) and (empty.bias.detach().numpy() == 0).all()
