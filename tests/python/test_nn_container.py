"""Containers vs torch.nn: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
(list/dict behaviour, child names, forward, reprs)."""
from collections import OrderedDict

import pytest
import torch

import kiln
import kiln.nn as nn
from test_nn_support import FLOAT_DTYPES, compare_modules


def names(module):
    return list(module._modules)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_sequential_forward_matches_torch(dtype):
    def make(m):
        return m.Sequential(m.Linear(3, 5), m.Tanh(), m.Linear(5, 4), m.LogSoftmax(dim=1))
    k, t = make(nn), make(torch.nn)
    assert repr(k) == repr(t)
    compare_modules(k, t, torch.randn(6, 3), dtype=dtype)


def test_sequential_from_ordered_dict():
    k = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    t = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(2, 3)), ("act", torch.nn.ReLU())]))
    assert names(k) == ["fc", "act"] and repr(k) == repr(t)
    assert list(k.state_dict()) == ["fc.weight", "fc.bias"]
    assert k.fc is k[0]


def test_sequential_list_api():
    a, b, c, d = nn.Linear(1, 1), nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and list(s) == [a, b, c] and s[-1] is c
    sliced = s[1:]
    assert isinstance(sliced, nn.Sequential) and list(sliced) == [b, c]
    assert names(sliced) == ["1", "2"]  # torch keeps the original names in a slice
    with pytest.raises(IndexError):
        s[3]
    s[1] = d
    assert s[1] is d
    assert s.append(b) is s and len(s) == 4
    s.insert(0, c)
    assert list(s) == [c, a, d, c, b] and names(s) == ["0", "1", "2", "3", "4"]
    del s[0]
    assert list(s) == [a, d, c, b] and names(s) == ["0", "1", "2", "3"]
    assert s.pop(1) is d and list(s) == [a, c, b]
    s.extend([d])
    assert list(s) == [a, c, b, d]
    combined = nn.Sequential(a) + nn.Sequential(b, c)
    assert list(combined) == [a, b, c]
    s2 = nn.Sequential(a)
    s2 += nn.Sequential(b)
    assert list(s2) == [a, b]
    assert list(nn.Sequential(a, b) * 2) == [a, b, a, b]
    with pytest.raises(ValueError):
        nn.Sequential(a) + [b]
    with pytest.raises(IndexError):
        s.insert(10, a)


def test_module_list():
    a, b, c = nn.Linear(1, 1), nn.ReLU(), nn.Tanh()
    ml = nn.ModuleList([a, b])
    assert len(ml) == 2 and ml[0] is a and ml[-1] is b and list(ml) == [a, b]
    ml.append(c)
    ml.extend([a])
    assert list(ml) == [a, b, c, a]
    ml.insert(1, c)
    assert list(ml) == [a, c, b, c, a]
    ml.insert(-1, b)  # like list.insert
    assert list(ml) == [a, c, b, c, b, a]
    assert isinstance(ml[1:3], nn.ModuleList) and list(ml[1:3]) == [c, b]
    del ml[0]
    assert names(ml) == [str(i) for i in range(5)] and ml[0] is c
    assert ml.pop(0) is c
    ml[0] = a
    assert ml[0] is a
    ml += [c]
    assert ml[-1] is c
    assert list(ml + nn.ModuleList([b]))[-1] is b
    with pytest.raises(TypeError):
        ml.extend(3)
    with pytest.raises(IndexError):
        ml[10]
    lists = (nn.ModuleList([nn.Linear(2, 2), nn.ReLU()]),
             torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.ReLU()]))
    assert repr(lists[0]) == repr(lists[1])
    assert list(lists[0].state_dict()) == list(lists[1].state_dict())


def test_module_dict():
    a, b = nn.Linear(1, 1), nn.ReLU()
    md = nn.ModuleDict({"a": a})
    md["b"] = b
    md.update([("c", nn.Tanh())])
    md.update(OrderedDict(d=nn.Sigmoid()))
    assert list(md) == list(md.keys()) == ["a", "b", "c", "d"]
    assert md["a"] is a and "b" in md and len(md) == 4
    assert [v for v in md.values()][1] is b and dict(md.items())["a"] is a
    assert md.pop("b") is b and "b" not in md
    del md["c"]
    assert list(md) == ["a", "d"]
    with pytest.raises(ValueError):
        md.update([("x", nn.ReLU(), 3)])
    with pytest.raises(TypeError):
        md.update(5)
    md.clear()
    assert len(md) == 0
    k = nn.ModuleDict({"lin": nn.Linear(2, 3), "act": nn.ReLU()})
    t = torch.nn.ModuleDict({"lin": torch.nn.Linear(2, 3), "act": torch.nn.ReLU()})
    assert repr(k) == repr(t)


def _same_repr(kiln_module, torch_module):
    assert repr(kiln_module).replace("kiln.", "torch.") == repr(torch_module)


def test_parameter_list():
    pl = nn.ParameterList([nn.Parameter(kiln.randn(2, 3)), kiln.randn(4)])
    assert len(pl) == 2 and all(isinstance(p, nn.Parameter) for p in pl)
    pl.append(kiln.zeros(1))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    assert isinstance(pl[0:2], nn.ParameterList) and len(pl[0:2]) == 2
    pl[0] = kiln.ones(2, 3)
    assert isinstance(pl[0], nn.Parameter) and pl[0].detach().numpy().sum() == 6
    tl = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(2, 3)), torch.randn(4),
                                 torch.zeros(1)])
    _same_repr(pl, tl)
    with pytest.raises(RuntimeError):
        pl()


def test_parameter_dict():
    pd = nn.ParameterDict({"b": kiln.randn(2), "a": nn.Parameter(kiln.randn(3))})
    assert list(pd) == ["a", "b"]  # a plain dict is sorted, as torch does
    pd["c"] = kiln.zeros(1)
    assert isinstance(pd["c"], nn.Parameter) and "c" in pd and len(pd) == 3
    assert [n for n, _ in pd.named_parameters()] == ["a", "b", "c"]
    assert pd.get("zz") is None and pd.pop("c") is not None and "c" not in pd
    assert pd.setdefault("d", kiln.ones(1)) is pd["d"]
    key, _ = pd.popitem()
    assert key == "d"
    td = torch.nn.ParameterDict({"b": torch.randn(2), "a": torch.nn.Parameter(torch.randn(3))})
    _same_repr(pd, td)
    merged = pd | nn.ParameterDict({"z": kiln.zeros(2)})
    assert list(merged) == ["a", "b", "z"]
    with pytest.raises(TypeError):
        pd[3] = kiln.zeros(1)
