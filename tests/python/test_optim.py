"""kiln.optim optimizers against torch.optim (PyTorch 1.13): ten steps from the same parameters
with the same gradients give the same parameters and state; param groups, lr changes, closures,
zero_grad and argument errors behave as torch's.

Tolerances: the C++ updates round in a slightly different order than torch's kernels (e.g.
torch scales by alpha in the tensor's dtype, addcdiv computes value * a / b), an ulp or so per
operation. float64: rtol 1e-12, atol 1e-14 (observed at most ~8e-15 relative). float32:
rtol 1e-6, atol 1e-6: the parameters and gradients are O(1) to O(10) (float32 ulp at 2 is
2.4e-7), and an element that ends near zero keeps the absolute rounding error of the O(1) terms
it came from, so near zero only an absolute bound of a few such ulps holds (observed at most
3.6e-7).
"""
import numpy as np
import pytest
import torch

import kiln

SHAPES = [(3, 4), (5,), (2, 1, 3)]
STEPS = 10
TOLERANCE = {kiln.float64: dict(rtol=1e-12, atol=1e-14), kiln.float32: dict(rtol=1e-6, atol=1e-6)}
NUMPY = {kiln.float32: np.float32, kiln.float64: np.float64}


def make_params(dtype, shapes=SHAPES):
    """The same initial parameters in both frameworks."""
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(NUMPY[dtype]) for s in shapes]
    return ([kiln.tensor(a).requires_grad_() for a in arrays],
            [torch.tensor(a).requires_grad_() for a in arrays])


def gradient_sequence(dtype, steps=STEPS, shapes=SHAPES):
    """Per step, one gradient per parameter, of varying scale (so AMSGrad's maximum and
    Adagrad's sum see growing and shrinking gradients)."""
    rng = np.random.default_rng(2)
    return [[(rng.standard_normal(s) * rng.uniform(0.1, 3.0)).astype(NUMPY[dtype])
             for s in shapes] for _ in range(steps)]


def set_grads(kiln_params, torch_params, grads):
    for kp, tp, g in zip(kiln_params, torch_params, grads):
        kp.grad = kiln.tensor(g)
        tp.grad = torch.tensor(g)


def assert_params_close(kiln_params, torch_params, dtype, msg=""):
    for i, (kp, tp) in enumerate(zip(kiln_params, torch_params)):
        np.testing.assert_allclose(kp.detach().numpy(), tp.detach().numpy(), **TOLERANCE[dtype],
                                   err_msg=f"{msg} parameter {i}")


def run_both(kiln_cls, torch_cls, kwargs, dtype, steps=STEPS):
    kp, tp = make_params(dtype)
    kopt, topt = kiln_cls(kp, **kwargs), torch_cls(tp, **kwargs)
    for grads in gradient_sequence(dtype, steps):
        set_grads(kp, tp, grads)
        kopt.step()
        topt.step()
    return kp, tp, kopt, topt


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.1)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.05, weight_decay=0.1, eps=1e-6)),
]


@pytest.mark.parametrize("dtype", [kiln.float32, kiln.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_ten_steps_match_torch(name, kwargs, dtype):
    kp, tp, kopt, topt = run_both(getattr(kiln.optim, name), getattr(torch.optim, name), kwargs,
                                  dtype)
    assert_params_close(kp, tp, dtype)
    # The state has torch's keys and values.
    for i, (k, t) in enumerate(zip(kp, tp)):
        kstate, tstate = kopt.state[k], topt.state[t]
        assert set(kstate) == {key for key, v in tstate.items() if v is not None}
        for key, value in tstate.items():
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):  # RMSprop's step is an int
                assert kstate[key] == value and type(kstate[key]) is type(value)
                continue
            np.testing.assert_allclose(kstate[key].numpy(), value.numpy(), **TOLERANCE[dtype],
                                       err_msg=f"state {key} of parameter {i}")


def test_gradients_from_backward_reach_the_optimizer():
    """A loss computed and differentiated by each framework: the C++ optimizer reads the .grad
    that backward() wrote."""
    kp, tp = make_params(kiln.float64)
    targets = [np.full(s, 0.5) for s in SHAPES]
    kopt = kiln.optim.Adam(kp, lr=0.05)
    topt = torch.optim.Adam(tp, lr=0.05)
    for _ in range(STEPS):
        kopt.zero_grad()
        topt.zero_grad()
        sum((((p - kiln.tensor(t)) ** 2) * 3.0).sum() for p, t in zip(kp, targets)).backward()
        sum((((p - torch.tensor(t)) ** 2) * 3.0).sum() for p, t in zip(tp, targets)).backward()
        kopt.step()
        topt.step()
    assert_params_close(kp, tp, kiln.float64)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_param_groups_with_their_own_options(name):
    dtype = kiln.float64
    kp, tp = make_params(dtype)
    extra = {"SGD": dict(momentum=0.5), "Adam": dict(betas=(0.5, 0.9)),
             "RMSprop": dict(alpha=0.8)}[name]

    def groups(params):
        return [{"params": params[:2], "lr": 0.1, **extra}, {"params": params[2:], "lr": 0.01}]

    kwargs = dict(lr=0.03, momentum=0.9) if name == "SGD" else dict(lr=0.03)
    kopt = getattr(kiln.optim, name)(groups(kp), **kwargs)
    topt = getattr(torch.optim, name)(groups(tp), **kwargs)
    assert [g["lr"] for g in kopt.param_groups] == [0.1, 0.01]
    for key in extra:
        assert kopt.param_groups[0][key] == extra[key]
        assert kopt.param_groups[1][key] == topt.param_groups[1][key]
    for grads in gradient_sequence(dtype):
        set_grads(kp, tp, grads)
        kopt.step()
        topt.step()
    assert_params_close(kp, tp, dtype)


def test_setting_lr_and_betas_in_param_groups_takes_effect():
    dtype = kiln.float64
    kp, tp = make_params(dtype)
    kopt, topt = kiln.optim.Adam(kp, lr=0.01), torch.optim.Adam(tp, lr=0.01)
    for step, grads in enumerate(gradient_sequence(dtype)):
        if step == 3:
            for opt in (kopt, topt):
                opt.param_groups[0]["lr"] = 0.1
                opt.param_groups[0]["betas"] = (0.5, 0.95)
        set_grads(kp, tp, grads)
        kopt.step()
        topt.step()
    assert kopt.param_groups[0]["lr"] == 0.1
    assert kopt.param_groups[0]["betas"] == (0.5, 0.95)
    assert_params_close(kp, tp, dtype)


def test_add_param_group_takes_defaults_and_overrides():
    dtype = kiln.float64
    kp, tp = make_params(dtype)
    kopt = kiln.optim.SGD(kp[:1], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tp[:1], lr=0.1, momentum=0.9)
    kopt.add_param_group({"params": kp[1:], "lr": 0.02})
    topt.add_param_group({"params": tp[1:], "lr": 0.02})
    assert dict(kopt.param_groups[1], params=None) == dict(topt.param_groups[1], params=None)
    for grads in gradient_sequence(dtype):
        set_grads(kp, tp, grads)
        kopt.step()
        topt.step()
    assert_params_close(kp, tp, dtype)


def test_param_group_is_a_live_dict_with_torchs_keys():
    kp, tp = make_params(kiln.float32)
    kgroup = kiln.optim.SGD(kp, lr=0.1).param_groups[0]
    tgroup = torch.optim.SGD(tp, lr=0.1).param_groups[0]
    assert list(kgroup) == list(tgroup)
    assert {k: v for k, v in kgroup.items() if k != "params"} == \
        {k: v for k, v in tgroup.items() if k != "params"}
    assert kgroup["params"][0] is kp[0]
    # Keys user code adds: numbers go to the C++ group (schedulers read them), others stay in
    # Python; both read back and can be removed again.
    kgroup["name"] = "encoder"
    kgroup["initial_lr"] = 0.5
    assert kgroup["name"] == "encoder" and kgroup["initial_lr"] == 0.5
    assert kgroup.setdefault("initial_lr", 1.0) == 0.5
    del kgroup["name"], kgroup["initial_lr"]
    assert "name" not in kgroup and "initial_lr" not in kgroup
    with pytest.raises(ValueError, match="cannot be removed"):
        del kgroup["lr"]
    with pytest.raises(KeyError):
        kgroup["no_such_key"]


def test_step_with_closure_enables_grad_and_returns_the_loss():
    p = kiln.tensor([1.0, -2.0], dtype=kiln.float64).requires_grad_()
    opt = kiln.optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with kiln.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_array_equal(p.detach().numpy(), [0.8, -1.6])
    assert opt.step() is None


def test_zero_grad_zeros_by_default_and_can_set_none():
    kp, _ = make_params(kiln.float32)
    opt = kiln.optim.SGD(kp, lr=0.1)
    for p in kp:
        p.grad = kiln.ones_like(p)
    grad = kp[0].grad
    opt.zero_grad()
    assert all(p.grad is not None and not p.grad.numpy().any() for p in kp)
    assert not grad.numpy().any()  # zeroed in place, like torch 1.13
    opt.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in kp)


def test_parameters_without_gradient_are_skipped():
    kp, tp = make_params(kiln.float64)
    kopt, topt = kiln.optim.Adam(kp, lr=0.1), torch.optim.Adam(tp, lr=0.1)
    grads = gradient_sequence(kiln.float64, 1)[0]
    kp[0].grad, tp[0].grad = kiln.tensor(grads[0]), torch.tensor(grads[0])
    kopt.step()
    topt.step()
    assert_params_close(kp, tp, kiln.float64)
    assert len(kopt.state) == len(topt.state) == 1
    assert kp[0] in kopt.state and kp[1] not in kopt.state


def test_repr_matches_torch():
    kp, tp = make_params(kiln.float32)
    assert repr(kiln.optim.Adam(kp, lr=0.01)) == repr(torch.optim.Adam(tp, lr=0.01))
    assert repr(kiln.optim.SGD(kp, lr=0.1, momentum=0.9)) == \
        repr(torch.optim.SGD(tp, lr=0.1, momentum=0.9))


ERRORS = [
    (lambda p: kiln.optim.SGD(p, lr=-1), ValueError, "Invalid learning rate: -1"),
    (lambda p: kiln.optim.Adam(p, lr=-0.5), ValueError, "Invalid learning rate: -0.5"),
    (lambda p: kiln.optim.Adam(p, betas=(1.0, 0.9)), ValueError,
     "Invalid beta parameter at index 0: 1.0"),
    (lambda p: kiln.optim.RMSprop(p, alpha=-1), ValueError, "Invalid alpha value: -1"),
    (lambda p: kiln.optim.Adagrad(p, lr_decay=-1), ValueError, "Invalid lr_decay value: -1"),
    (lambda p: kiln.optim.SGD(p, lr=0.1, nesterov=True), ValueError,
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: kiln.optim.SGD(p), ValueError, "required optimization parameter lr"),
    (lambda p: kiln.optim.SGD([], lr=0.1), ValueError, "optimizer got an empty parameter list"),
    (lambda p: kiln.optim.SGD([{"params": p, "lr": 0.1, "momentom": 0.9}], lr=0.1), ValueError,
     "unknown option 'momentom'"),
    (lambda p: kiln.optim.SGD([{"params": p, "lr": -0.1}], lr=0.1), ValueError,
     "invalid learning rate"),
    (lambda p: kiln.optim.SGD(p, lr=0.1, momentom=0.9), TypeError, "momentom"),
    (lambda p: kiln.optim.SGD(p[0], lr=0.1), TypeError, "iterable of Tensors or dicts"),
    (lambda p: kiln.optim.SGD([p[0], 3], lr=0.1), TypeError, "can only optimize Tensors"),
    (lambda p: kiln.optim.SGD([{"params": {p[0]}}], lr=0.1), TypeError, "ordered collections"),
    (lambda p: kiln.optim.SGD([p[0] * 2], lr=0.1), ValueError, "can't optimize a non-leaf"),
    (lambda p: kiln.optim.SGD([{"params": p[:2]}, {"params": p[1:]}], lr=0.1), ValueError,
     "more than one parameter group"),
    (lambda p: kiln.optim.SGD(p, lr=0.1, maximize=True), NotImplementedError, "maximize=True"),
    (lambda p: kiln.optim.Adam(p, differentiable=True), NotImplementedError, "differentiable"),
    (lambda p: kiln.optim.Adam([{"params": p, "betas": 0.9}]), TypeError, "betas"),
]


@pytest.mark.parametrize("make,error,message", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_argument_errors_like_torch(make, error, message):
    kp, _ = make_params(kiln.float32)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(kp)


def test_add_param_group_errors_leave_the_optimizer_unchanged():
    kp, _ = make_params(kiln.float32)
    opt = kiln.optim.SGD(kp[:2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": kp[1:]})
    with pytest.raises(ValueError, match="invalid momentum"):
        opt.add_param_group({"params": kp[2:], "momentum": -1})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": kp[2:]})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 0.1


def test_foreign_tensor_is_not_in_the_state():
    kp, _ = make_params(kiln.float32)
    opt = kiln.optim.Adam(kp[:1])
    assert kp[1] not in opt.state
    with pytest.raises(KeyError):
        opt.state[kp[1]]
