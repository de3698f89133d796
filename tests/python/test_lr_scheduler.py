"""kiln.optim.lr_scheduler against torch.optim.lr_scheduler (PyTorch 1.13): the lr sequence over
30 epochs (the optimizer stepping in between) equals torch's, for each scheduler alone, chained,
resumed with last_epoch, and across a state_dict round trip.

The chainable schedules (StepLR, MultiStepLR, ExponentialLR, LinearLR, MultiplicativeLR) and
LambdaLR, OneCycleLR and ReduceLROnPlateau compute with the same float64 operations as torch, so
their lrs are compared exactly. CosineAnnealingLR is closed-form in Kiln and recursive in torch:
the same values up to rounding, compared with rtol 1e-12.
"""
import math

import numpy as np
import pytest
import torch

import kiln
from kiln.optim import lr_scheduler as klr
from torch.optim import lr_scheduler as tlr

EPOCHS = 30


def optimizers(name="SGD", **kwargs):
    """The same two-group optimizer in both frameworks (lrs 0.1 and 0.02)."""
    kwargs = kwargs or (dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1))
    made = []
    for lib in (kiln, torch):
        params = [lib.zeros(3, requires_grad=True), lib.zeros(2, requires_grad=True)]
        made.append(getattr(lib.optim, name)(
            [{"params": params[:1]}, {"params": params[1:], "lr": 0.02}], **kwargs))
    return made


def lr_sequences(kiln_schedulers, torch_schedulers, kopt, topt, epochs=EPOCHS):
    """Each epoch: optimizer.step(), then every scheduler's step(); the groups' lrs after."""
    ks, ts = [[g["lr"] for g in kopt.param_groups]], [[g["lr"] for g in topt.param_groups]]
    for _ in range(epochs):
        kopt.step()
        topt.step()
        for s in kiln_schedulers:
            s.step()
        for s in torch_schedulers:
            s.step()
        ks.append([g["lr"] for g in kopt.param_groups])
        ts.append([g["lr"] for g in topt.param_groups])
    assert kiln_schedulers[-1].get_last_lr() == ks[-1]
    return ks, ts


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=7)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.25, end_factor=0.9, total_iters=7)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.95 ** epoch + 1 / (epoch + 1))),
    ("MultiplicativeLR", dict(lr_lambda=lambda epoch: 0.9 if epoch % 2 else 1.05)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULES)])
def test_lr_sequence_equals_torch(name, kwargs):
    kopt, topt = optimizers()
    ks, ts = lr_sequences([getattr(klr, name)(kopt, **kwargs)],
                          [getattr(tlr, name)(topt, **kwargs)], kopt, topt)
    assert ks == ts


@pytest.mark.parametrize("eta_min", [0.0, 0.001])
def test_cosine_annealing_equals_torch_up_to_rounding(eta_min):
    kopt, topt = optimizers()
    ks, ts = lr_sequences([klr.CosineAnnealingLR(kopt, T_max=10, eta_min=eta_min)],
                          [tlr.CosineAnnealingLR(topt, T_max=10, eta_min=eta_min)], kopt, topt)
    np.testing.assert_allclose(ks, ts, rtol=1e-12, atol=1e-15)
    assert ks[10] == pytest.approx([eta_min, eta_min], abs=1e-15)  # past T_max it rises again
    assert ks[20] == pytest.approx([0.1, 0.02], rel=1e-12)


def test_chained_schedulers_equal_torch():
    """A warm-up and a decay acting on the same optimizer, then the same pair through
    ChainedScheduler, and a C++ schedule chained with a Python one."""
    kopt, topt = optimizers()
    ks, ts = lr_sequences([klr.LinearLR(kopt, 0.1, total_iters=4), klr.ExponentialLR(kopt, 0.9)],
                          [tlr.LinearLR(topt, 0.1, total_iters=4), tlr.ExponentialLR(topt, 0.9)],
                          kopt, topt)
    assert ks == ts

    kopt, topt = optimizers()
    kchain = klr.ChainedScheduler([klr.StepLR(kopt, 4, 0.5), klr.MultiStepLR(kopt, [3, 6], 0.1)])
    tchain = tlr.ChainedScheduler([tlr.StepLR(topt, 4, 0.5), tlr.MultiStepLR(topt, [3, 6], 0.1)])
    ks, ts = lr_sequences([kchain], [tchain], kopt, topt)
    assert ks == ts

    kopt, topt = optimizers()
    ks, ts = lr_sequences(
        [klr.MultiplicativeLR(kopt, lambda e: 0.97), klr.StepLR(kopt, 5, 0.5)],
        [tlr.MultiplicativeLR(topt, lambda e: 0.97), tlr.StepLR(topt, 5, 0.5)], kopt, topt)
    assert ks == ts


def test_schedulers_drive_the_updates_like_torch():
    """The lrs the scheduler writes are what the C++ step uses: parameters after 30 steps."""
    results = []
    for lib, lr in ((kiln, klr), (torch, tlr)):
        p = lib.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
        optimizer = lib.optim.SGD([p], lr=0.1, momentum=0.9)
        scheduler = lr.StepLR(optimizer, 4, 0.5)
        for epoch in range(EPOCHS):
            p.grad = lib.tensor(np.array([math.sin(epoch), 1.0, -0.5]))
            optimizer.step()
            scheduler.step()
        results.append(p.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


ONE_CYCLE = [
    ("SGD", dict(max_lr=1.0, total_steps=25)),
    ("SGD", dict(max_lr=[0.5, 0.1], epochs=5, steps_per_epoch=5, anneal_strategy="linear",
                 pct_start=0.4)),
    ("SGD", dict(max_lr=0.3, total_steps=25, three_phase=True, base_momentum=0.8,
                 max_momentum=0.9, div_factor=10.0, final_div_factor=100.0)),
    ("Adam", dict(max_lr=0.01, total_steps=25)),
    ("Adam", dict(max_lr=0.01, total_steps=25, cycle_momentum=False)),
    ("Adagrad", dict(max_lr=0.05, total_steps=25, cycle_momentum=False)),
]


@pytest.mark.parametrize("name,kwargs", ONE_CYCLE, ids=[f"{n}-{i}" for i, (n, _) in
                                                        enumerate(ONE_CYCLE)])
def test_one_cycle_per_batch_equals_torch(name, kwargs):
    kopt, topt = optimizers(name)
    ks = klr.OneCycleLR(kopt, **kwargs)
    ts = tlr.OneCycleLR(topt, **kwargs)
    momentum = {"SGD": "momentum", "Adam": "betas"}.get(name)
    for batch in range(25):
        for key in ("lr", momentum, "initial_lr", "max_lr", "min_lr"):
            if key:
                assert [g[key] for g in kopt.param_groups] == [g[key] for g in topt.param_groups], \
                    (batch, key)
        kopt.step()
        topt.step()
        if batch < 24:
            ks.step()
            ts.step()
    ks.step()  # the 25th scheduler step reaches total_steps: torch allows it, then refuses
    with pytest.raises(ValueError, match="total steps is 25"):
        ks.step()


def test_one_cycle_with_adam_moves_the_parameters_like_torch():
    results = []
    for lib, lr in ((kiln, klr), (torch, tlr)):
        p = lib.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
        optimizer = lib.optim.Adam([p])
        scheduler = lr.OneCycleLR(optimizer, max_lr=0.1, total_steps=20)
        for batch in range(20):
            p.grad = lib.tensor(np.array([math.cos(batch), 2.0, -0.5 * batch]))
            optimizer.step()
            scheduler.step() if batch < 19 else None
        results.append(p.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


PLATEAU = [
    dict(patience=2),
    dict(patience=1, cooldown=2, factor=0.5, min_lr=[0.01, 0.005]),
    dict(mode="max", threshold_mode="abs", threshold=0.05, patience=0, factor=0.3),
    dict(patience=0, factor=0.5, eps=0.01),
]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(i) for i in range(len(PLATEAU))])
def test_reduce_on_plateau_equals_torch(kwargs):
    kopt, topt = optimizers()
    ks = klr.ReduceLROnPlateau(kopt, **kwargs)
    ts = tlr.ReduceLROnPlateau(topt, **kwargs)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.94, 0.9, 0.91, 0.8, 0.8, 0.8, 0.8, 0.85, 0.7, 0.7, 0.72,
               0.69, 0.7, 0.7, 0.7, 0.7, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.4, 0.41, 0.42, 0.43]
    if kwargs.get("mode") == "max":
        metrics = [-m for m in metrics]
    for epoch, metric in enumerate(metrics):
        kopt.step()
        topt.step()
        ks.step(kiln.tensor(np.array(metric)) if epoch % 2 else metric)  # a tensor, or a float
        ts.step(metric)
        assert [g["lr"] for g in kopt.param_groups] == [g["lr"] for g in topt.param_groups], epoch
        assert (ks.best, ks.num_bad_epochs, ks.cooldown_counter, ks.last_epoch, ks.in_cooldown) \
            == (ts.best, ts.num_bad_epochs, ts.cooldown_counter, ts.last_epoch, ts.in_cooldown)
    assert ks.get_last_lr() == ts._last_lr


def test_resume_with_last_epoch_equals_torch():
    kopt, topt = optimizers()
    for opt in (kopt, topt):
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"] * 2
    ks, ts = lr_sequences([klr.StepLR(kopt, 3, 0.5, last_epoch=4)],
                          [tlr.StepLR(topt, 3, 0.5, last_epoch=4)], kopt, topt, epochs=10)
    assert ks == ts
    kopt, topt = optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        klr.ExponentialLR(kopt, 0.9, last_epoch=3)
    with pytest.raises(KeyError, match="initial_lr"):
        tlr.ExponentialLR(topt, 0.9, last_epoch=3)


@pytest.mark.parametrize("name,kwargs", [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[4, 8], gamma=0.3)),
    ("CosineAnnealingLR", dict(T_max=9, eta_min=0.001)),
    ("LinearLR", dict(start_factor=0.2, total_iters=8)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=30)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e))),
    ("ReduceLROnPlateau", dict(patience=1)),
])
def test_state_dict_round_trip_continues_the_schedule(name, kwargs):
    cls = getattr(klr, name)
    plateau = name == "ReduceLROnPlateau"
    metrics = [1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3]

    def step(scheduler, epoch):
        scheduler.step(metrics[epoch]) if plateau else scheduler.step()

    kopt, _ = optimizers()
    scheduler = cls(kopt, **kwargs)
    for epoch in range(12):
        step(scheduler, epoch)
    uninterrupted = scheduler.get_last_lr()

    kopt, _ = optimizers()
    scheduler = cls(kopt, **kwargs)
    for epoch in range(6):
        step(scheduler, epoch)
    saved_optimizer, saved_scheduler = kopt.state_dict(), scheduler.state_dict()
    assert saved_scheduler["last_epoch"] == 6 and saved_scheduler["verbose"] is False

    fresh_optimizer, _ = optimizers()  # made as at the start of a run, then both loaded
    fresh = cls(fresh_optimizer, **kwargs)
    fresh_optimizer.load_state_dict(saved_optimizer)
    fresh.load_state_dict(saved_scheduler)
    for epoch in range(6, 12):
        step(fresh, epoch)
    assert fresh.get_last_lr() == uninterrupted
    assert fresh.last_epoch == 12


def test_state_dict_keys_and_attributes_follow_torch():
    kopt, topt = optimizers()
    ks, ts = klr.StepLR(kopt, 3, 0.5), tlr.StepLR(topt, 3, 0.5)
    topt.step()  # (torch warns about a scheduler stepped before its optimizer)
    for _ in range(4):
        ks.step()
        ts.step()
    ksd, tsd = ks.state_dict(), ts.state_dict()
    shared = {"step_size", "gamma", "base_lrs", "last_epoch", "verbose", "_step_count", "_last_lr"}
    assert shared <= set(ksd) and shared <= set(tsd)
    assert {k: ksd[k] for k in shared} == {k: tsd[k] for k in shared}
    assert (ks.last_epoch, ks.base_lrs, ks.gamma, ks.step_size) == \
        (ts.last_epoch, ts.base_lrs, ts.gamma, ts.step_size)
    ks.gamma = ts.gamma = 0.1  # settings can be changed, as torch's attributes
    for _ in range(4):
        ks.step()
        ts.step()
    assert ks.get_last_lr() == ts.get_last_lr()

    kp, tp = klr.ReduceLROnPlateau(kopt, patience=3), tlr.ReduceLROnPlateau(topt, patience=3)
    shared = {"mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lrs",
              "eps", "best", "num_bad_epochs", "cooldown_counter", "last_epoch", "verbose"}
    kpsd, tpsd = kp.state_dict(), tp.state_dict()
    assert {k: kpsd[k] for k in shared} == {k: tpsd[k] for k in shared}


def test_verbose_prints_like_torch(capsys):
    kopt, topt = optimizers()
    ks = klr.ExponentialLR(kopt, 0.5, verbose=True)
    ks.step()
    kiln_out = capsys.readouterr().out
    ts = tlr.ExponentialLR(topt, 0.5, verbose=True)
    topt.step()
    ts.step()
    assert kiln_out == capsys.readouterr().out
    assert "Adjusting learning rate of group 1 to 1.0000e-02." in kiln_out

    kp = klr.ReduceLROnPlateau(kopt, patience=0, verbose=True)
    tp = tlr.ReduceLROnPlateau(topt, patience=0, verbose=True)
    kp.step(1.0)
    kp.step(2.0)
    kiln_out = capsys.readouterr().out
    tp.step(1.0)
    tp.step(2.0)
    assert kiln_out == capsys.readouterr().out and "reducing learning rate" in kiln_out


class PlainSGD(kiln.optim.Optimizer):
    """An optimizer written in Python on the pure-Python base, as with torch."""

    def __init__(self, params, lr):
        super().__init__(params, dict(lr=lr))

    def step(self, closure=None):
        with kiln.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"])
                        self.state[p]["steps"] = self.state[p].get("steps", 0) + 1


def test_python_optimizer_with_python_scheduler():
    p = kiln.tensor([1.0, 2.0], dtype=kiln.float64, requires_grad=True)
    optimizer = PlainSGD([p], lr=0.5)
    scheduler = klr.LambdaLR(optimizer, lambda epoch: 1 / (epoch + 1))
    for _ in range(3):
        p.grad = kiln.tensor([1.0, -1.0], dtype=kiln.float64)
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(p.detach().numpy(), [1 - 0.5 * (1 + 1 / 2 + 1 / 3),
                                                    2 + 0.5 * (1 + 1 / 2 + 1 / 3)], rtol=1e-15)
    saved = optimizer.state_dict()
    assert saved == {"state": {0: {"steps": 3}},
                     "param_groups": [{"lr": 0.5 / 4, "initial_lr": 0.5, "params": [0]}]}
    fresh = PlainSGD([kiln.zeros(2, requires_grad=True)], lr=1.0)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.125
    with pytest.raises(TypeError, match="Kiln's optimizers"):
        klr.StepLR(optimizer, 3)


SCHEDULER_ERRORS = [
    (lambda o: klr.StepLR("not an optimizer", 3), TypeError, "is not an Optimizer"),
    (lambda o: klr.StepLR(o, 0), ValueError, "step_size must be positive"),
    (lambda o: klr.LinearLR(o, start_factor=2.0), ValueError, "Starting multiplicative factor"),
    (lambda o: klr.OneCycleLR(o, 0.1), ValueError, "You must define either total_steps"),
    (lambda o: klr.OneCycleLR(o, 0.1, total_steps=0), ValueError, "positive integer total_steps"),
    (lambda o: klr.OneCycleLR(o, [0.1], total_steps=5), ValueError, "expected 2 values for max_lr"),
    (lambda o: klr.OneCycleLR(o, 0.1, 10, base_momentum=[0.8, 0.85]), NotImplementedError,
     "base_momentum"),
    (lambda o: klr.OneCycleLR(o, 0.1, 10, anneal_strategy="exp"), ValueError, "anneal_strategy"),
    (lambda o: klr.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0."),
    (lambda o: klr.ReduceLROnPlateau(o, mode="avg"), ValueError, "mode avg is unknown!"),
    (lambda o: klr.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
    (lambda o: klr.LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
    (lambda o: klr.StepLR(o, 3).step(5), NotImplementedError, "epoch"),
]


@pytest.mark.parametrize("make,error,message", SCHEDULER_ERRORS,
                         ids=[str(i) for i in range(len(SCHEDULER_ERRORS))])
def test_scheduler_errors(make, error, message):
    kopt, _ = optimizers()
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(kopt)


def test_one_cycle_needs_a_momentum_to_cycle():
    kopt, topt = optimizers("Adagrad")
    with pytest.raises(ValueError, match="optimizer must support momentum"):
        klr.OneCycleLR(kopt, 0.1, total_steps=10)
    with pytest.raises(ValueError, match="optimizer must support momentum"):
        tlr.OneCycleLR(topt, 0.1, total_steps=10)
