"""Optimizer state dicts: torch's format (keys and structure equal torch's), a round trip that
continues bit-identically, loading torch's own state dicts, the state mapping, and errors."""
import numpy as np
import pytest
import torch

import kiln

SHAPES = [(3, 4), (5,), (2, 1, 3)]

CASES = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.99))),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]
IDS = [name for name, _ in CASES]


def arrays(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def gradients(step):
    return arrays(100 + step)


def kiln_params(values):
    return [kiln.tensor(v).requires_grad_() for v in values]


def groups(params):
    """Two groups, the second with its own lr."""
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.02}]


def train(optimizer, params, steps):
    for step in steps:
        for p, g in zip(params, gradients(step)):
            p.grad = kiln.tensor(g)
        optimizer.step()


def values(params):
    return [p.detach().numpy().copy() for p in params]


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_round_trip_continues_bit_identically(name, kwargs):
    cls = getattr(kiln.optim, name)
    params = kiln_params(arrays(0))
    optimizer = cls(groups(params), **kwargs)
    train(optimizer, params, range(10))
    uninterrupted = values(params)

    params = kiln_params(arrays(0))
    optimizer = cls(groups(params), **kwargs)
    train(optimizer, params, range(5))
    saved = optimizer.state_dict()
    train(optimizer, params, range(5, 7))  # the saved dict is a snapshot: later steps leave it

    fresh_params = kiln_params(_values_after(cls, kwargs, 5))  # the parameters at step 5
    fresh = cls(groups(fresh_params), lr=0.5) if name == "SGD" else cls(groups(fresh_params))
    fresh.load_state_dict(saved)
    assert [g["lr"] for g in fresh.param_groups] == [kwargs["lr"], 0.02]
    train(fresh, fresh_params, range(5, 10))
    for a, b in zip(values(fresh_params), uninterrupted):
        np.testing.assert_array_equal(a, b)


def _values_after(cls, kwargs, steps):
    params = kiln_params(arrays(0))
    train(cls(groups(params), **kwargs), params, range(steps))
    return values(params)


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_state_dict_has_torchs_structure(name, kwargs):
    kp = kiln_params(arrays(0))
    tp = [torch.tensor(v).requires_grad_() for v in arrays(0)]
    kopt = getattr(kiln.optim, name)(groups(kp), **kwargs)
    topt = getattr(torch.optim, name)(groups(tp), **kwargs)
    for step in range(3):
        for k, t, g in zip(kp, tp, gradients(step)):
            k.grad, t.grad = kiln.tensor(g), torch.tensor(g)
        kopt.step()
        topt.step()
    ksd, tsd = kopt.state_dict(), topt.state_dict()
    assert set(ksd) == set(tsd) == {"state", "param_groups"}
    assert ksd["param_groups"] == tsd["param_groups"]  # same keys, values and param indices
    assert set(ksd["state"]) == set(tsd["state"])
    for index, tstate in tsd["state"].items():
        kstate = ksd["state"][index]
        assert set(kstate) == set(tstate)
        for key, value in tstate.items():
            if isinstance(value, torch.Tensor):
                assert kstate[key].dtype == {torch.float32: kiln.float32,
                                             torch.float64: kiln.float64}[value.dtype]
                np.testing.assert_allclose(kstate[key].numpy(), value.numpy(), rtol=1e-12)
            else:
                assert kstate[key] == value and type(kstate[key]) is type(value)


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_loads_torchs_state_dict(name, kwargs):
    """A state dict saved by torch (torch tensors, SGD's momentum_buffer None) continues in Kiln
    as in torch."""
    tp = [torch.tensor(v).requires_grad_() for v in arrays(0)]
    topt = getattr(torch.optim, name)(groups(tp), **kwargs)
    for step in range(5):
        for t, g in zip(tp, gradients(step)):
            t.grad = torch.tensor(g)
        topt.step()
    kp = kiln_params([t.detach().numpy() for t in tp])
    kopt = getattr(kiln.optim, name)(groups(kp), lr=0.5)
    kopt.load_state_dict(topt.state_dict())
    for step in range(5, 10):
        for k, t, g in zip(kp, tp, gradients(step)):
            k.grad, t.grad = kiln.tensor(g), torch.tensor(g)
        kopt.step()
        topt.step()
    for k, t in zip(kp, tp):
        np.testing.assert_allclose(k.detach().numpy(), t.detach().numpy(), rtol=1e-12,
                                   atol=1e-14)


def test_state_dict_keeps_python_side_keys_and_scheduler_keys():
    params = kiln_params(arrays(0))
    optimizer = kiln.optim.SGD(params, lr=0.1)
    optimizer.param_groups[0]["name"] = "all"
    optimizer.param_groups[0]["initial_lr"] = 0.1
    saved = optimizer.state_dict()
    assert saved["param_groups"][0]["name"] == "all"
    assert saved["param_groups"][0]["initial_lr"] == 0.1
    fresh = kiln.optim.SGD(kiln_params(arrays(0)), lr=0.3, foreach=True)
    fresh.load_state_dict(saved)
    group = fresh.param_groups[0]
    assert group["name"] == "all" and group["initial_lr"] == 0.1 and group["lr"] == 0.1
    assert group["foreach"] is None


def test_state_mapping_reads_and_writes_the_cpp_state():
    params = kiln_params(arrays(0))
    optimizer = kiln.optim.Adam(params, lr=0.1)
    assert len(optimizer.state) == 0
    train(optimizer, params, range(2))
    assert list(optimizer.state) == params
    state = optimizer.state[params[0]]
    assert list(state) == ["step", "exp_avg", "exp_avg_sq"]
    assert state["step"].item() == 2.0 and state["step"].dtype is kiln.float32
    before = values(params)
    # The buffers are the optimizer's own tensors: zeroing them makes the next update zero.
    for p in params:
        optimizer.state[p]["exp_avg"].zero_()
        optimizer.state[p]["step"] = 7
    assert optimizer.state[params[1]]["step"].item() == 7.0
    optimizer.step()  # gradients unchanged; exp_avg = (1 - beta1) * grad, step 8
    expected_m = 0.1 * gradients(1)[0]
    np.testing.assert_allclose(optimizer.state[params[0]]["exp_avg"].numpy(), expected_m,
                               rtol=1e-15)
    assert not np.array_equal(values(params)[0], before[0])
    optimizer.state[params[0]].clear()
    assert params[0] not in optimizer.state and len(optimizer.state) == 2


def test_adagrad_has_state_from_the_start_like_torch():
    params = kiln_params(arrays(0))
    optimizer = kiln.optim.Adagrad(params, initial_accumulator_value=0.5)
    tparams = [torch.tensor(v).requires_grad_() for v in arrays(0)]
    toptimizer = torch.optim.Adagrad(tparams, initial_accumulator_value=0.5)
    assert len(optimizer.state) == len(toptimizer.state) == 3
    assert set(optimizer.state[params[1]]) == set(toptimizer.state[tparams[1]]) == {"step", "sum"}
    np.testing.assert_array_equal(optimizer.state[params[1]]["sum"].numpy(), np.full(5, 0.5))


def test_load_state_dict_errors_change_nothing():
    params = kiln_params(arrays(0))
    optimizer = kiln.optim.Adam(groups(params), lr=0.1)
    train(optimizer, params, range(2))
    saved = optimizer.state_dict()
    one_group = kiln.optim.Adam(kiln_params(arrays(0)), lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        one_group.load_state_dict(saved)
    other_sizes = kiln.optim.Adam([{"params": params[:1]}, {"params": params[1:]}])
    with pytest.raises(ValueError, match="doesn't match the size"):
        other_sizes.load_state_dict(saved)
    target = kiln.optim.Adam(groups(kiln_params(arrays(0))), lr=0.3)
    bad = optimizer.state_dict()
    bad["param_groups"][1]["lr"] = 0.7
    bad["state"][2]["exp_avg"] = kiln.zeros(7)  # wrong shape: refused after the lr was read
    with pytest.raises(ValueError, match="shape"):
        target.load_state_dict(bad)
    assert [g["lr"] for g in target.param_groups] == [0.3, 0.02] and len(target.state) == 0
