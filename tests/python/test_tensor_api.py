"""The Tensor object's Python behaviour against PyTorch: item/tolist types, bool/float/int/index,
len and iteration, kiln.Size, repr (torch's text with 'torch.' read as 'kiln.'), .T/.mT, the
.to(...) spellings, and the autograd attributes (grad, is_leaf, retain_grad, hooks, detach,
requires_grad_)."""
import re

import numpy as np
import pytest
import torch

import kiln
from parity import TORCH_DTYPE


def both(fn):
    """fn(kiln), fn(torch)."""
    return fn(kiln), fn(torch)


@pytest.mark.parametrize("make", [
    lambda lib: lib.tensor([[1, 2], [3, 4]]).tolist(),
    lambda lib: lib.tensor([1.5, -2.0]).tolist(),
    lambda lib: lib.tensor([[True], [False]]).tolist(),
    lambda lib: lib.tensor(3).tolist(),
    lambda lib: lib.tensor(True).item(),
    lambda lib: lib.tensor([7]).item(),
    lambda lib: lib.tensor(2.5, dtype=lib.float16).item(),
    lambda lib: lib.tensor(2.5, dtype=lib.float64).item(),
    lambda lib: lib.tensor([1, 2], dtype=lib.uint8).tolist(),
    lambda lib: lib.tensor([0.5, 1.5]).to(lib.bfloat16).tolist(),
    lambda lib: bool(lib.tensor([0.0])),
    lambda lib: bool(lib.tensor(2)),
    lambda lib: float(lib.tensor([3])),
    lambda lib: int(lib.tensor(-3.7)),
    lambda lib: [10, 11, 12][lib.tensor(1)],
    lambda lib: len(lib.zeros(3, 2)),
    lambda lib: [t.tolist() for t in lib.arange(6).reshape(3, 2)],
    lambda lib: format(lib.tensor(2.5), ".2f"),
    lambda lib: lib.zeros(2, 3).shape[1:] + (4,),
    lambda lib: lib.zeros(2, 3).size(),
    lambda lib: lib.zeros(2, 3).size(-1),
    lambda lib: lib.zeros(2, 3).stride(),
    lambda lib: lib.zeros(2, 3).t().stride(1),
    lambda lib: lib.zeros(2, 3).T.shape,
    lambda lib: lib.zeros(4, 2, 3).mT.shape,
    lambda lib: lib.zeros(2, 3).H.shape,
    lambda lib: (lib.zeros(2, 3, 4).ndim, lib.zeros(2, 3).dim(), lib.zeros(2, 3).numel()),
    lambda lib: lib.zeros(6)[2:].storage_offset(),
    lambda lib: lib.zeros(2, 3).t().is_contiguous(),
    lambda lib: lib.ones(2, dtype=lib.float64).element_size(),
    lambda lib: lib.Size([2, 3]).numel(),
    lambda lib: lib.zeros(2) == None,  # noqa: E711 (torch compares by identity: False)
    lambda lib: lib.zeros(2).type(),
], ids=range(33))
def test_python_values_match_torch(make):
    k, t = both(make)
    if isinstance(t, str):
        t = t.replace("torch.", "kiln.")
    assert k == t and type(k).__name__ == type(t).__name__, (k, t)
    if isinstance(t, (list, tuple)):
        flat_k, flat_t = np.ravel(k).tolist(), np.ravel(t).tolist()
        assert [type(v) for v in flat_k] == [type(v) for v in flat_t]


def test_size_is_a_tuple_subclass():
    s = kiln.zeros(2, 3).shape
    assert isinstance(s, tuple) and isinstance(s, kiln.Size) and s == (2, 3)
    assert repr(s) == "kiln.Size([2, 3])" and repr(s[1:]) == "kiln.Size([3])"
    assert isinstance(s + (1,), kiln.Size) and isinstance((1,) + s, kiln.Size)


@pytest.mark.parametrize("fn", [lambda lib: bool(lib.tensor([1, 2])),
                                lambda lib: len(lib.tensor(1.0)),
                                lambda lib: iter(lib.tensor(1.0)),
                                lambda lib: [1, 2][lib.tensor(1.0)],
                                lambda lib: lib.tensor([1, 2]).item()], ids=range(5))
def test_conversion_refusals_match_torch(fn):
    with pytest.raises(Exception) as t_err:
        fn(torch)
    with pytest.raises(Exception) as k_err:
        fn(kiln)
    assert issubclass(k_err.type, (t_err.type, ValueError)), (k_err.value, t_err.value)


REPRS = [np.array(3.25), np.array([1.5, -2.25, 1e-3]), np.arange(12.0).reshape(3, 4) / 7,
         np.array([1e10, 1.0]), np.array([[1, 2], [3, -4]]), np.array([True, False]),
         np.array([0.1, 0.2], dtype=np.float16), np.array([np.nan, np.inf, -np.inf, 1.0]),
         np.zeros((2, 0)), np.zeros((0,)), np.arange(1500.0), np.array([-0.0, 0.0]),
         np.array([1e-10, 1.0]), np.array([100000, 1]), np.arange(2000).reshape(40, 50),
         np.array([1 / 3]), np.array([0.0, np.nan, 2.5]), np.arange(30.0)[None],
         np.array([[1e-5, 2.0], [3.0, 4.0]], dtype=np.float32)]


@pytest.mark.parametrize("index", range(len(REPRS)))
def test_repr_matches_torch(index):
    a = REPRS[index]
    for dtype in [None, "float64"] if a.dtype.kind == "f" else [None, "int32"]:
        kt, tt = kiln.tensor(a), torch.tensor(a)
        if dtype:
            kt, tt = kt.to(getattr(kiln, dtype)), tt.to(getattr(torch, dtype))
        cases = [(kt, tt)]
        if a.dtype.kind == "f":
            kr, tr = kt.clone().requires_grad_(), tt.clone().requires_grad_()
            cases += [(kr, tr), (kr * 2, tr * 2)]
        for k, t in cases:
            expected = re.sub(r"grad_fn=<\w+>", "grad_fn=<>", repr(t).replace("torch.", "kiln."))
            assert re.sub(r"grad_fn=<\w+>", "grad_fn=<>", repr(k)) == expected


def test_repr_of_other_dtypes():
    for name in ["bfloat16", "uint8", "int32", "float16"]:
        k = kiln.tensor([1.5, 2.0]).to(getattr(kiln, name))
        t = torch.tensor([1.5, 2.0]).to(getattr(torch, name))
        assert repr(k) == repr(t).replace("torch.", "kiln.")
    assert str(kiln.zeros(1)) == repr(kiln.zeros(1))


def test_to_variants():
    x = kiln.tensor([1.7, -2.2], requires_grad=True)
    assert x.to(kiln.float64).dtype is kiln.float64
    assert x.to(dtype=kiln.int32).tolist() == [1, -2]
    assert x.to("cpu") is x and x.to(kiln.float32) is x
    assert x.to("cpu", kiln.float16).dtype is kiln.float16
    assert x.to(kiln.device("cpu"), dtype=kiln.float64).dtype is kiln.float64
    assert x.to(kiln.zeros(1, dtype=kiln.int64)).dtype is kiln.int64
    copy = x.to(kiln.float32, copy=True)
    assert copy is not x and copy.data_ptr() != x.data_ptr()
    assert x.cpu() is x or x.cpu().data_ptr() == x.data_ptr()
    assert x.double().dtype is kiln.float64 and x.half().dtype is kiln.float16
    assert x.long().dtype is kiln.int64 and x.int().dtype is kiln.int32
    assert x.bool().dtype is kiln.bool and x.byte().dtype is kiln.uint8
    assert x.type_as(kiln.zeros(1, dtype=kiln.float64)).dtype is kiln.float64
    y = x.to(kiln.float64)
    y.sum().backward()  # the cast is differentiable
    assert x.grad.tolist() == [1.0, 1.0] and x.grad.dtype is kiln.float32
    assert str(x.device) == "cpu" and x.device == kiln.device("cpu") and not x.is_cuda


def test_grad_leaf_and_retain_grad():
    x = kiln.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert x.grad is None and x.is_leaf and x.grad_fn is None
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad
    y.retain_grad()
    assert y.retains_grad and not x.retains_grad
    (y * y).sum().backward()
    assert x.grad.tolist() == [8.0, 16.0, 24.0] and y.grad.tolist() == [4.0, 8.0, 12.0]
    z = x * 3
    z.sum().backward()
    assert z.grad is None  # not retained
    assert x.grad.tolist() == [11.0, 19.0, 27.0]  # accumulates
    x.grad = None
    assert x.grad is None
    assert kiln.zeros(2).is_leaf and kiln.zeros(2).grad is None


def test_register_hook_modifies_gradient_and_can_be_removed():
    for lib in (kiln, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        handle = y.register_hook(lambda g: g * 10)
        seen = []
        x.register_hook(lambda g: seen.append(g.tolist()))
        y.sum().backward(retain_graph=True)
        assert x.grad.tolist() == [20.0, 20.0] and seen == [[20.0, 20.0]], lib
        handle.remove()
        x.grad = None
        y.sum().backward()
        assert x.grad.tolist() == [2.0, 2.0], lib
        with pytest.raises(RuntimeError, match="require"):
            lib.zeros(2).register_hook(lambda g: g)


def test_detach_shares_storage_and_drops_history():
    x = kiln.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.data_ptr() == x.data_ptr()
    d[0] = 100.0
    assert x[0].item() == 100.0
    y = x * 1
    y.detach_()
    assert not y.requires_grad and y.grad_fn is None
    assert x.data.data_ptr() == x.data_ptr() and not x.data.requires_grad


def test_requires_grad_rules():
    x = kiln.zeros(2)
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad = False
    assert not x.requires_grad
    with pytest.raises(TypeError, match="floating"):  # torch: RuntimeError
        kiln.zeros(2, dtype=kiln.int64).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        (kiln.zeros(2, requires_grad=True) * 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="retain_grad"):
        kiln.zeros(2).retain_grad()


def test_backward_arguments():
    x = kiln.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.backward(kiln.tensor([1.0, 0.5]))
    assert x.grad.tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match="one-element"):
        (x * 2).backward()
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.tolist() == [6.0, 10.0]
    with pytest.raises(RuntimeError):
        z.backward()  # the graph was freed
    w = (x ** 3).sum()
    (g,) = kiln.autograd.grad(w, [x], create_graph=True)
    assert g.requires_grad and g.tolist() == [3.0, 12.0]


def test_dtype_and_device_attributes():
    for name in ["float32", "float64", "int64", "bool", "float16"]:
        k = kiln.zeros(1, dtype=getattr(kiln, name))
        assert TORCH_DTYPE[k.dtype] == getattr(torch, name) and k.dtype is getattr(kiln, name)
    assert repr(kiln.zeros(1).device) == "device(type='cpu')"
    assert kiln.device("cpu").type == "cpu" and kiln.device("cpu").index is None


def test_grad_setter_checks_dtype_and_shape():

    p = kiln.ones(4, requires_grad=True)
    with pytest.raises(TypeError, match="dtype"):
        p.grad = kiln.ones(4, dtype=kiln.float64)
    with pytest.raises(ValueError, match="shape"):
        p.grad = kiln.ones(3)
    p.grad = kiln.full((4,), 2.0)
    assert p.grad.tolist() == [2.0] * 4


def test_hook_handle_does_not_keep_the_tensor_alive_and_weakrefs_work():
    import gc
    import weakref
    x = kiln.ones(3, requires_grad=True)
    handle = x.register_hook(lambda g: g * 2)
    ref = weakref.ref(x)
    (x * 1).sum().backward()
    assert x.grad.tolist() == [2.0] * 3
    handle.remove()
    del x
    gc.collect()
    assert ref() is None
    handle.remove()  # a no-op once the tensor is gone
