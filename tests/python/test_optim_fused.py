"""The fused optimizer steps from Python: kiln.optim.SGD / Adam / AdamW with fused=True on the CPU
against torch's own (non-fused) optimizers, fused against the composite, the 'fused' option as
param_groups and state_dict() show it (like torch 1.13: on Adam only), and on CUDA (skipped
without a device) fused CUDA against fused CPU.

torch 1.13 refuses fused=True on the CPU, so torch always runs its default implementation here;
the tolerances are test_optim.py's (the C++ updates round in a slightly different order than
torch's kernels, an ulp or so per operation).
"""
import math

import numpy as np
import pytest
import torch

import kiln
import test_optim

SHAPES = [(3, 4), (5,), (2, 1, 3), (0,), (37,)]
STEPS = 10
TOLERANCE = {kiln.float64: dict(rtol=1e-12, atol=1e-14), kiln.float32: dict(rtol=1e-6, atol=1e-6)}
# fused against composite in Kiln: the same operations in the same order.
SAME_ORDER = {kiln.float64: dict(rtol=1e-14, atol=1e-15), kiln.float32: dict(rtol=1e-6, atol=1e-7)}
NUMPY = {kiln.float32: np.float32, kiln.float64: np.float64}
DTYPES = pytest.mark.parametrize("dtype", [kiln.float32, kiln.float64], ids=["f32", "f64"])

# The optimizer cases of the parity tests that have a fused step.
CASES = [case for case in test_optim.CASES if case[0] in ("SGD", "Adam", "AdamW")]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def arrays(dtype, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(NUMPY[dtype]) for s in SHAPES]


def gradient_sequence(dtype):
    """Per step, a gradient per parameter or None: every fourth parameter (rotating) has none,
    so step counts differ between parameters and momentum buffers start late."""
    rng = np.random.default_rng(2)
    steps = []
    for step in range(STEPS):
        scale = rng.uniform(0.1, 3.0)
        steps.append([None if (i + step) % 4 == 3 else
                      (rng.standard_normal(s) * scale).astype(NUMPY[dtype])
                      for i, s in enumerate(SHAPES)])
    return steps


def set_grads(params, grads, make):
    for p, g in zip(params, grads):
        p.grad = None if g is None else make(g)


def kiln_params(dtype, device="cpu"):
    return [kiln.tensor(a).to(device).requires_grad_() for a in arrays(dtype, 1)]


def values(params):
    return [p.detach().cpu().numpy() for p in params]


@DTYPES
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_fused_on_cpu_matches_torch(name, kwargs, dtype):
    kp = kiln_params(dtype)
    tp = [torch.tensor(a).requires_grad_() for a in arrays(dtype, 1)]
    kopt = getattr(kiln.optim, name)(kp, fused=True, **kwargs)
    topt = getattr(torch.optim, name)(tp, **kwargs)
    for grads in gradient_sequence(dtype):
        set_grads(kp, grads, kiln.tensor)
        set_grads(tp, grads, torch.tensor)
        kopt.step()
        topt.step()
    for i, (k, t) in enumerate(zip(values(kp), values(tp))):
        np.testing.assert_allclose(k, t, **TOLERANCE[dtype], err_msg=f"parameter {i}")
    for i, (k, t) in enumerate(zip(kp, tp)):
        tstate = topt.state[t]
        kstate = kopt.state[k]
        assert set(kstate) == {key for key, v in tstate.items() if v is not None}
        for key, value in tstate.items():
            if isinstance(value, torch.Tensor):
                np.testing.assert_allclose(kstate[key].numpy(), value.numpy(), **TOLERANCE[dtype],
                                           err_msg=f"state {key} of parameter {i}")


@DTYPES
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_fused_matches_the_composite(name, kwargs, dtype):
    results = []
    for fused in (True, False):
        params = kiln_params(dtype)
        optimizer = getattr(kiln.optim, name)(params, fused=fused, **kwargs)
        for grads in gradient_sequence(dtype):
            set_grads(params, grads, kiln.tensor)
            optimizer.step()
        results.append((values(params), optimizer.state_dict()))
    (fused_values, fused_sd), (composite_values, composite_sd) = results
    for a, b in zip(fused_values, composite_values):
        np.testing.assert_allclose(a, b, **SAME_ORDER[dtype])
    assert fused_sd["state"].keys() == composite_sd["state"].keys()
    for index, state in fused_sd["state"].items():
        for key, value in state.items():
            other = composite_sd["state"][index][key]
            np.testing.assert_allclose(np.asarray(value.numpy()), np.asarray(other.numpy()),
                                       **SAME_ORDER[dtype], err_msg=f"{key} of {index}")


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_param_groups_show_fused_like_torch(name):
    tp = [torch.zeros(2, requires_grad=True)]
    tgroup = getattr(torch.optim, name)(tp, lr=0.1).param_groups[0]
    for fused in (None, True, False):
        kgroup = getattr(kiln.optim, name)([kiln.zeros(2).requires_grad_()], lr=0.1,
                                           fused=fused).param_groups[0]
        assert list(kgroup) == list(tgroup)
        if name == "Adam":
            assert kgroup["fused"] is fused
        else:
            assert "fused" not in kgroup  # torch 1.13's SGD and AdamW have no such option
    default = getattr(kiln.optim, name)([kiln.zeros(2).requires_grad_()], lr=0.1)
    assert {k: v for k, v in default.param_groups[0].items() if k != "params"} == \
        {k: v for k, v in tgroup.items() if k != "params"}


def test_adam_fused_option_round_trips_and_takes_effect():
    params = kiln_params(kiln.float64)
    optimizer = kiln.optim.Adam(params, lr=0.01)
    assert optimizer.param_groups[0]["fused"] is False  # torch 1.13's default
    optimizer.param_groups[0]["fused"] = None
    assert optimizer.param_groups[0]["fused"] is None
    saved = optimizer.state_dict()
    assert saved["param_groups"][0]["fused"] is None
    other = kiln.optim.Adam(kiln_params(kiln.float64), fused=True)
    other.load_state_dict(saved)
    assert other.param_groups[0]["fused"] is None
    # A torch state dict (fused=False) loads and sets it, as in torch.
    torch_sd = torch.optim.Adam([torch.zeros(a.shape, dtype=torch.float64, requires_grad=True)
                                 for a in arrays(kiln.float64, 1)]).state_dict()
    other.load_state_dict(torch_sd)
    assert other.param_groups[0]["fused"] is False
    with pytest.raises(TypeError, match="'fused' must be None, True or False"):
        other.param_groups[0]["fused"] = 2
    assert other.param_groups[0]["fused"] is False


def test_sgd_fused_is_a_constructor_option():
    params = kiln_params(kiln.float32)
    optimizer = kiln.optim.SGD(params, lr=0.1, momentum=0.9, fused=True, foreach=True)
    group = optimizer.param_groups[0]
    assert "fused" not in group and "fused" not in optimizer.state_dict()["param_groups"][0]
    group["fused"] = False  # a key torch's SGD does not read: kept in Python, as torch keeps it
    assert group["fused"] is False
    del group["fused"]
    assert "fused" not in group
    for bad in (2, "yes", 0.5):
        with pytest.raises(TypeError, match="'fused' must be None, True or False"):
            kiln.optim.SGD(params, lr=0.1, fused=bad)
        with pytest.raises(TypeError, match="'fused' must be None, True or False"):
            kiln.optim.AdamW(params, fused=bad)


@pytest.mark.skipif(not kiln.cuda.is_available(), reason="no CUDA device: fused CUDA steps not run")
@pytest.mark.parametrize("dtype", [kiln.float32, kiln.float64, kiln.bfloat16],
                         ids=["f32", "f64", "bf16"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_fused_cuda_matches_fused_cpu(name, kwargs, dtype):
    results = []
    base = kiln.float32 if dtype == kiln.bfloat16 else dtype
    for device in ("cuda", "cpu"):
        params = [kiln.tensor(a).to(device).to(dtype).requires_grad_() for a in arrays(base, 1)]
        optimizer = getattr(kiln.optim, name)(params, fused=None if device == "cuda" else True,
                                              **kwargs)
        for grads in gradient_sequence(base):
            set_grads(params, grads, lambda g: kiln.tensor(g).to(device).to(dtype))
            optimizer.step()
        results.append([p.detach().cpu().to(kiln.float64).numpy() for p in params])
    tol = SAME_ORDER.get(dtype, dict(rtol=1e-2, atol=1e-2))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, **tol)
        assert not np.isnan(a).any() and math.isfinite(float(np.abs(a).sum()))
