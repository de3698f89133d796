"""kiln.nn.Module and Parameter vs torch.nn: registration on attribute assignment, traversal,
state_dict keys and load_state_dict results and errors, repr, hooks, train/eval, conversions,
zero_grad. The same nested model is built with both libraries by `build_net(lib)`."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
from parity import assert_close, same_weights, to_kiln


def build_net(lib):
    """A nested model with every kind of registration: Sequential with a custom submodule,
    ModuleList, ModuleDict, a Parameter assigned as an attribute, persistent, non-persistent
    and None buffers, a parameter registered as None."""
    m = lib.nn

    class Block(m.Module):
        def __init__(self):
            super().__init__()
            self.fc = m.Linear(4, 4)
            self.act = m.GELU(approximate="tanh")
            self.scale = m.Parameter(lib.ones(4))
            self.register_buffer("shift", lib.zeros(4))
            self.register_buffer("scratch", lib.zeros(2), persistent=False)

        def forward(self, x):
            return self.act(self.fc(x)) * self.scale + self.shift

    class Net(m.Module):
        def __init__(self):
            super().__init__()
            self.body = m.Sequential(m.Linear(3, 4), m.ReLU(), Block())
            self.heads = m.ModuleList([m.Linear(4, 2), m.Linear(4, 2, bias=False)])
            self.extra = m.ModuleDict({"drop": m.Dropout(0.1), "emb": m.Embedding(5, 4, 1)})
            self.register_buffer("steps", lib.zeros((), dtype=lib.int64))
            self.register_buffer("unused", None)
            self.register_parameter("absent", None)
            self.loss = m.MSELoss()

        def forward(self, x, idx):
            h = self.body(x) + self.extra["emb"](idx)
            return sum(head(h).sum() for head in self.heads)

    return Net()


def test_state_dict_keys_shapes_and_order_match_torch():
    k, t = build_net(kiln), build_net(torch)
    ks, ts = k.state_dict(), t.state_dict()
    assert isinstance(ks, OrderedDict)
    assert list(ks) == list(ts)
    assert "body.2.scratch" not in ks and "unused" not in ks and "absent" not in ks
    for key in ts:
        assert tuple(ks[key].shape) == tuple(ts[key].shape), key
        assert not ks[key].requires_grad  # detached values
    assert ks["steps"].dtype is kiln.int64
    assert list(k.state_dict(prefix="net.")) == list(t.state_dict(prefix="net."))
    kept = k.state_dict(keep_vars=True)
    assert kept["body.0.weight"] is k.body[0].weight
    assert k.state_dict()["body.0.weight"].data_ptr() == k.body[0].weight.data_ptr()


def test_named_members_match_torch():
    k, t = build_net(kiln), build_net(torch)
    assert [n for n, _ in k.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in k.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in k.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in k.named_children()] == [n for n, _ in t.named_children()]
    assert [n for n, _ in k.named_parameters(prefix="p", recurse=False)] == []
    assert [n for n, _ in k.body[2].named_parameters(recurse=False)] == ["scale"]
    assert len(list(k.parameters())) == len(list(t.parameters()))
    assert all(isinstance(p, nn.Parameter) for p in k.parameters())


def test_shared_modules_and_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.modules())) == 3
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.named_modules(remove_duplicate=False))) == 4
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_repr_matches_torch():
    assert repr(build_net(kiln)) == repr(build_net(torch))
    assert str(nn.Linear(3, 2, bias=False)) == str(torch.nn.Linear(3, 2, bias=False))
    assert repr(nn.Bilinear(2, 3, 4)) == repr(torch.nn.Bilinear(2, 3, 4))

    class Multi(nn.Module):
        def extra_repr(self):
            return "a=1\nb=2"
    assert repr(Multi()) == "Multi(\n  a=1\n  b=2\n)"


def test_parameter():
    data = kiln.randn(2, 3)
    p = nn.Parameter(data)
    assert isinstance(p, kiln.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert p.data_ptr() == data.data_ptr()  # shares storage
    assert repr(p) == "Parameter containing:\n" + repr(data.requires_grad_())
    assert not nn.Parameter(kiln.randn(2), requires_grad=False).requires_grad
    assert tuple(nn.Parameter().shape) == (0,)
    y = kiln.randn(2).requires_grad_() * 2
    assert nn.Parameter(y).is_leaf  # a new leaf, cut from y's history
    with pytest.raises(TypeError):
        nn.Parameter([1.0, 2.0])


def test_registration_by_assignment_and_deletion():
    m = nn.Module()
    m.w = nn.Parameter(kiln.randn(2))
    m.child = nn.Linear(2, 2)
    m.register_buffer("buf", kiln.zeros(2))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["child"]
    assert list(m._buffers) == ["buf"] and m.__dict__["plain"] == 3
    new_buf = kiln.ones(2)
    m.buf = new_buf  # a plain tensor assigned to a registered buffer name replaces it
    assert m.buf is new_buf
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = kiln.randn(2)
    with pytest.raises(TypeError, match="buffer 'buf'"):
        m.buf = 3
    with pytest.raises(TypeError, match="child module 'child'"):
        m.child = kiln.randn(2)
    m.w = None
    assert "w" in m._parameters and m.w is None
    with pytest.raises(TypeError, match="parameter 'w'"):  # as torch: delete it first
        m.w = nn.Linear(1, 1)
    del m.w
    m.w = nn.Linear(1, 1)
    assert "w" not in m._parameters and "w" in m._modules
    del m.w, m.buf, m.plain
    assert "w" not in m._modules and "buf" not in m._buffers and not hasattr(m, "plain")
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nothing'"):
        m.nothing
    assert {"child"} <= set(dir(m)) and "forward" in dir(m)


def test_registration_errors():
    m = nn.Module()
    m.x = 1
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("x", kiln.zeros(1))
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", nn.Parameter(kiln.zeros(1)))
    with pytest.raises(KeyError, match="empty"):
        m.add_module("", nn.ReLU())
    with pytest.raises(TypeError):
        m.register_parameter("p", kiln.zeros(1))
    with pytest.raises(TypeError):
        m.add_module("r", 3)
    with pytest.raises(TypeError):
        m.register_buffer("b", [1, 2])
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(kiln.zeros(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_get_submodule_parameter_buffer():
    net = build_net(kiln)
    assert net.get_submodule("body.2") is net.body[2]
    assert net.get_submodule("") is net
    assert net.get_parameter("body.2.fc.weight") is net.body[2].fc.weight
    assert net.get_buffer("body.2.shift") is net.body[2].shift
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        net.get_submodule("body.nope")
    with pytest.raises(AttributeError, match="not an nn.Parameter"):
        net.get_parameter("body.2.shift")
    with pytest.raises(AttributeError, match="not a buffer"):
        net.get_buffer("body.2.scale")


def test_load_state_dict_from_torch_then_forward_matches():
    k, t = build_net(kiln), build_net(torch)
    result = k.load_state_dict({key: to_kiln(v) for key, v in t.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    k.eval(), t.eval()
    x, idx = torch.randn(2, 3), torch.tensor([0, 4])
    assert_close(k(to_kiln(x), to_kiln(idx)), t(x, idx))


def _kiln_and_torch_state():
    k, t = build_net(kiln), build_net(torch)
    state = OrderedDict((key, to_kiln(v)) for key, v in t.state_dict().items())
    return k, t, state


def _torch_message(t, tstate):
    with pytest.raises(RuntimeError) as info:
        t.load_state_dict(tstate)
    return str(info.value)


def test_load_state_dict_strict_errors_match_torch_and_change_nothing():
    k, t, state = _kiln_and_torch_state()
    tstate = t.state_dict()
    del state["heads.0.bias"], tstate["heads.0.bias"]
    state["extra.bogus"], tstate["extra.bogus"] = kiln.zeros(1), torch.zeros(1)
    before = {key: v.clone() for key, v in k.state_dict().items()}
    with pytest.raises(RuntimeError) as info:
        k.load_state_dict(state)
    assert str(info.value) == _torch_message(build_net(torch), tstate)
    for key, v in k.state_dict().items():  # nothing was copied
        np.testing.assert_array_equal(v.numpy(), before[key].numpy(), err_msg=key)


def test_load_state_dict_non_strict_reports_keys_and_copies():
    k, t, state = _kiln_and_torch_state()
    tstate = t.state_dict()
    for d in (state, tstate):
        del d["body.0.weight"]
    state["foo.bar"], tstate["foo.bar"] = kiln.zeros(1), torch.zeros(1)
    kres = k.load_state_dict(state, strict=False)
    tres = build_net(torch).load_state_dict(tstate, strict=False)
    assert kres.missing_keys == tres.missing_keys == ["body.0.weight"]
    assert kres.unexpected_keys == tres.unexpected_keys == ["foo.bar"]
    assert repr(kres).replace("IncompatibleKeys", "") == repr(tres).replace("IncompatibleKeys", "")
    assert_close(k.body[0].bias.detach(), t.body[0].bias.detach())


def test_load_state_dict_shape_mismatch_names_key_and_shapes():
    k, _, state = _kiln_and_torch_state()
    state["heads.1.weight"] = kiln.zeros(3, 4)
    before = k.body[0].weight.detach().clone()
    with pytest.raises(RuntimeError) as info:
        k.load_state_dict(state, strict=False)
    message = str(info.value)
    assert "size mismatch for heads.1.weight" in message
    assert "[3, 4]" in message and "[2, 4]" in message
    np.testing.assert_array_equal(k.body[0].weight.detach().numpy(), before.numpy())


def test_load_state_dict_type_errors():
    k = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="dict-like"):
        k.load_state_dict([("weight", kiln.zeros(2, 2))])
    with pytest.raises(RuntimeError, match="expected kiln.Tensor"):
        k.load_state_dict({"weight": np.zeros((2, 2)), "bias": kiln.zeros(2)})


def test_load_state_dict_converts_dtype_and_keeps_parameter_objects():
    lin = nn.Linear(2, 3).double()
    weight = lin.weight
    lin.load_state_dict({"weight": kiln.ones(3, 2), "bias": kiln.zeros(3)})
    assert lin.weight is weight and lin.weight.dtype is kiln.float64 and lin.weight.requires_grad
    np.testing.assert_array_equal(lin.weight.detach().numpy(), 1)


def test_load_state_dict_post_hook_and_extra_state():
    class WithExtra(nn.Module):
        def __init__(self):
            super().__init__()
            self.value = 0
            self.lin = nn.Linear(1, 1)

        def get_extra_state(self):
            return {"value": self.value}

        def set_extra_state(self, state):
            self.value = state["value"]

    src, dst = WithExtra(), WithExtra()
    src.value = 7
    state = src.state_dict()
    assert list(state) == ["_extra_state", "lin.weight", "lin.bias"]
    seen = []
    dst.register_load_state_dict_post_hook(lambda module, keys: seen.append(keys))
    dst.load_state_dict(state)
    assert dst.value == 7 and len(seen) == 1


def test_forward_hooks():
    lin = nn.Linear(2, 2)
    calls = []
    pre = lin.register_forward_pre_hook(lambda m, inp: (inp[0] * 0,))
    post = lin.register_forward_hook(lambda m, inp, out: calls.append(out) or out + 1)
    y = lin(kiln.randn(3, 2))
    bias = lin.bias.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), np.tile(bias + 1, (3, 1)), rtol=1e-6)
    assert len(calls) == 1
    pre.remove()
    post.remove()
    x = kiln.randn(3, 2)
    np.testing.assert_allclose(lin(x).detach().numpy(),
                               x.numpy() @ lin.weight.detach().numpy().T + bias, rtol=1e-5)
    assert len(calls) == 1
    with lin.register_forward_pre_hook(lambda m, inp: inp[0] * 0):  # single value is wrapped
        np.testing.assert_allclose(lin(x).detach().numpy(), np.tile(bias, (3, 1)), rtol=1e-6)
    assert not lin._forward_pre_hooks


def test_global_forward_hook():
    from kiln.nn.modules.module import register_module_forward_hook
    seen = []
    handle = register_module_forward_hook(lambda m, inp, out: seen.append(type(m).__name__))
    try:
        nn.Sequential(nn.Linear(2, 2), nn.ReLU())(kiln.randn(1, 2))
    finally:
        handle.remove()
    assert seen == ["Linear", "ReLU", "Sequential"]
    nn.ReLU()(kiln.randn(2))
    assert len(seen) == 3


def test_backward_hooks_are_refused_clearly():
    with pytest.raises(NotImplementedError, match="register_hook"):
        nn.Linear(1, 1).register_full_backward_hook(lambda *a: None)


def test_missing_forward():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(kiln.zeros(1))


def test_train_eval_reaches_every_submodule():
    net = build_net(kiln)
    assert net.training and net.extra["drop"].training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError):
        net.train("yes")
    drop = net.extra["drop"]
    x = kiln.ones(100)
    assert (drop(x).numpy() == 0).any()
    net.eval()
    np.testing.assert_array_equal(drop(x).numpy(), 1)


def test_to_float64_keeps_parameter_objects_and_converts_grads():
    net = build_net(kiln)
    params = list(net.parameters())
    net(kiln.randn(2, 3), kiln.tensor([0, 1])).backward()
    assert net.to(kiln.float64) is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    for p in net.parameters():
        assert p.dtype is kiln.float64 and p.requires_grad and isinstance(p, nn.Parameter)
        assert p.grad is not None and p.grad.dtype is kiln.float64
    assert net.body[2].shift.dtype is kiln.float64
    assert net.steps.dtype is kiln.int64  # integer buffers keep their dtype
    assert net.body[2].scratch.dtype is kiln.float64  # non-persistent buffers move too
    net.float()
    assert all(p.dtype is kiln.float32 for p in net.parameters())
    net.to(kiln.zeros(1, dtype=kiln.float64))
    assert all(p.dtype is kiln.float64 for p in net.parameters())
    net.to("cpu", kiln.float32).to(device="cpu", dtype=kiln.float64)
    assert all(p.dtype is kiln.float64 for p in net.parameters())
    net.to(dtype=kiln.float16).bfloat16().half().cpu().double()
    assert all(p.dtype is kiln.float64 for p in net.parameters())
    with pytest.raises(TypeError, match="floating point"):
        net.to(kiln.int64)
    net.type(kiln.float32)
    assert net.steps.dtype is kiln.float32  # type() casts everything, as torch's does


def test_zero_grad_and_requires_grad_():
    lin = nn.Linear(3, 2)
    lin(kiln.randn(4, 3)).sum().backward()
    grad = lin.weight.grad
    lin.zero_grad()
    np.testing.assert_array_equal(lin.weight.grad.numpy(), 0)
    np.testing.assert_array_equal(grad.numpy(), 0)  # zeroed in place
    lin.zero_grad(set_to_none=True)
    assert lin.weight.grad is None and lin.bias.grad is None
    assert lin.requires_grad_(False) is lin
    assert not any(p.requires_grad for p in lin.parameters())


def test_apply_visits_children_then_self():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    order = []
    assert net.apply(lambda m: order.append(type(m).__name__)) is net
    assert order == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_same_weights_round_trip_through_torch():
    t = torch.nn.Linear(3, 2)
    k = nn.Linear(3, 2)
    same_weights(k, t)
    back = torch.nn.Linear(3, 2)
    back.load_state_dict({key: torch.from_numpy(v.numpy()) for key, v in k.state_dict().items()})
    assert torch.equal(back.weight, t.weight) and torch.equal(back.bias, t.bias)
