"""kiln.backends.cudnn: torch.backends.cudnn's switches (enabled, benchmark, deterministic,
allow_tf32), version(), is_available() and flags(), shared with C++ (kiln::cuda::
set_cudnn_*). Get/set work without a GPU; their effect on convolutions is checked by
tests/cpp/test_cuda_conv.cpp where there is one."""
import pytest
import torch

import kiln
import kiln.backends.cudnn as kcudnn

SWITCHES = ("enabled", "benchmark", "deterministic", "allow_tf32")


@pytest.fixture
def restore():
    saved = {name: getattr(kcudnn, name) for name in SWITCHES}
    yield
    for name, value in saved.items():
        setattr(kcudnn, name, value)


def test_defaults_are_torchs(restore):
    for name in SWITCHES:
        assert getattr(kcudnn, name) is getattr(torch.backends.cudnn, name), name
    assert kiln.backends.cudnn is kcudnn


@pytest.mark.parametrize("name", SWITCHES)
def test_set_and_get_reach_cpp(restore, name):
    getter = getattr(kiln._C, "_cudnn_" + name)
    for value in (not getattr(kcudnn, name), getattr(kcudnn, name)):
        setattr(kcudnn, name, value)
        assert getattr(kcudnn, name) is value
        assert getter() is value  # the C++ switch itself


def test_rejects_non_bool(restore):
    with pytest.raises(TypeError, match="bool"):
        kcudnn.benchmark = 1
    assert kcudnn.benchmark is False


def test_flags_sets_and_restores(restore):
    kcudnn.benchmark = True
    with kcudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False):
        assert (kcudnn.enabled, kcudnn.benchmark, kcudnn.deterministic, kcudnn.allow_tf32) == \
            (True, False, True, False)
    assert (kcudnn.enabled, kcudnn.benchmark, kcudnn.deterministic, kcudnn.allow_tf32) == \
        (True, True, False, True)
    with pytest.raises(ValueError):
        with kcudnn.flags(enabled=True):
            raise ValueError("inside")
    assert kcudnn.benchmark is True


def test_version_and_availability():
    available = kcudnn.is_available()
    assert available == kiln.cuda.is_available()
    v = kcudnn.version()
    if kiln.backends.cuda.is_built():
        assert isinstance(v, int) and v >= 8000
    else:
        assert v is None
    x = kiln.zeros(2)
    assert kcudnn.is_acceptable(x) is False  # a CPU tensor


@pytest.mark.skipif(not kiln.cuda.is_available(), reason="no CUDA device: cuDNN not run")
def test_disabled_cudnn_refuses_convolutions_but_not_batch_norm(restore):
    x = kiln.randn(2, 3, 8, 8, device="cuda")
    w = kiln.randn(4, 3, 3, 3, device="cuda")
    rm, rv = kiln.zeros(3, device="cuda"), kiln.ones(3, device="cuda")
    y_on = kiln.nn.functional.batch_norm(x, rm, rv, training=True)
    kcudnn.enabled = False
    y_off = kiln.nn.functional.batch_norm(x, kiln.zeros(3, device="cuda"),
                                          kiln.ones(3, device="cuda"), training=True)
    assert (y_on - y_off).abs().max().item() < 1e-5
    kcudnn.enabled = True
    assert kiln.nn.functional.conv2d(x, w).shape == (2, 4, 6, 6)
