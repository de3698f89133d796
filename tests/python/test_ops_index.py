"""The index ops against PyTorch: index_select, index_add, gather, scatter, scatter_add,
masked_fill (out of place and in place), nonzero / argwhere / where(condition), index_put,
embedding and one_hot; values and the gradients of inputs and sources."""
import pytest
import torch

import kiln
from test_ops_helpers import FLOATS, check_parity, make_input, to_kiln, assert_close

IDX = torch.tensor([2, 0, 2])
GATHER_IDX = torch.tensor([[0, 2, 1, 0], [1, 1, 0, 2], [2, 0, 0, 1]])
MASK = torch.tensor([[True, False, True, False], [False, False, True, True],
                     [True, True, False, False]])


def _on(lib, t):
    return to_kiln(t) if lib is kiln else t


def _ops(lib):
    return {
        "index_select": lambda x, s: lib.index_select(x, 0, _on(lib, IDX)) * 1 + 0 * s.sum(),
        "index_select_method": lambda x, s: x.index_select(-1, _on(lib, IDX)),
        "index_add": lambda x, s: lib.index_add(x, 0, _on(lib, IDX), s),
        "index_add_alpha": lambda x, s: x.index_add(0, _on(lib, IDX), s, alpha=-2.0),
        "gather": lambda x, s: lib.gather(x, 1, _on(lib, GATHER_IDX[:, :3])),
        "gather_method": lambda x, s: x.gather(0, _on(lib, GATHER_IDX)),
        "scatter": lambda x, s: lib.scatter(x, 0, _on(lib, torch.tensor([[2, 1, 0, 1]])), s[:1]),
        "scatter_value": lambda x, s: x.scatter(1, _on(lib, GATHER_IDX[:, :1]), 7.5),
        "scatter_add": lambda x, s: lib.scatter_add(x, 1, _on(lib, GATHER_IDX), s),
        "masked_fill": lambda x, s: lib.masked_fill(x, _on(lib, MASK), -1.5),
        "masked_fill_tensor": lambda x, s: x.masked_fill(_on(lib, MASK), s[0, 0]),
        "masked_fill_broadcast": lambda x, s: x.masked_fill(_on(lib, MASK[0]), 0.0),
        "index_put": lambda x, s: lib.index_put(x, (_on(lib, IDX[:2]),), s[:2, :] * 1),
        "index_put_accumulate": lambda x, s: x.index_put((_on(lib, IDX),), s, accumulate=True),
    }


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", list(_ops(torch)))
def test_index_op(name, dtype):
    x, s = make_input((3, 4), dtype), make_input((3, 4), dtype)
    check_parity(_ops(kiln)[name], _ops(torch)[name], [x, s], msg=name)


def _inplace_ops(lib):
    return {
        "index_add_": lambda y, s: y.index_add_(0, _on(lib, IDX), s, alpha=2),
        "scatter_": lambda y, s: y.scatter_(1, _on(lib, GATHER_IDX[:, :2]), s[:, :2]),
        "scatter_value_": lambda y, s: y.scatter_(0, _on(lib, GATHER_IDX[:1]), 3.0),
        "scatter_add_": lambda y, s: y.scatter_add_(1, _on(lib, GATHER_IDX), s),
        "masked_fill_": lambda y, s: y.masked_fill_(_on(lib, MASK), 2.0),
        "masked_fill_tensor_": lambda y, s: y.masked_fill_(_on(lib, MASK), s[1, 1]),
        "index_put_": lambda y, s: y.index_put_((_on(lib, IDX[1:]),), s[:2]),
    }


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", list(_inplace_ops(torch)))
def test_inplace_index_op_on_a_non_leaf(name, dtype):
    x, s = make_input((3, 4), dtype), make_input((3, 4), dtype)

    def run(ops):
        def f(a, b):
            y = a * 1
            assert ops[name](y, b) is y
            return y
        return f
    check_parity(run(_inplace_ops(kiln)), run(_inplace_ops(torch)), [x, s], msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool])
def test_nonzero_argwhere_and_where_condition(dtype):
    t = torch.tensor([[0, 1, 0], [2, 0, 3]]).to(dtype)
    k = to_kiln(t)
    assert_close(kiln.nonzero(k), torch.nonzero(t))
    assert_close(k.nonzero(), t.nonzero())
    assert_close(kiln.argwhere(k), torch.argwhere(t))
    for kt, tt in [(kiln.nonzero(k, as_tuple=True), torch.nonzero(t, as_tuple=True)),
                   (k.nonzero(as_tuple=True), t.nonzero(as_tuple=True)),
                   (kiln.where(k != 0), torch.where(t != 0))]:
        assert isinstance(kt, tuple) and len(kt) == len(tt)
        for a, b in zip(kt, tt):
            assert_close(a, b)
    assert_close(kiln.nonzero(kiln.tensor(5)), torch.nonzero(torch.tensor(5)))
    assert_close(kiln.nonzero(kiln.zeros(0, 2)), torch.nonzero(torch.zeros(0, 2)))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_embedding(dtype):
    w = make_input((5, 3), dtype)
    idx = torch.tensor([[0, 4], [4, 2]])
    check_parity(lambda a: kiln.embedding(a, to_kiln(idx)), lambda a: torch.embedding(a, idx),
                 [w])
    with pytest.raises(NotImplementedError, match="padding_idx"):
        kiln.embedding(to_kiln(w), to_kiln(idx), padding_idx=0)


def test_one_hot():
    idx = torch.tensor([[0, 3], [1, 1]])
    assert_close(kiln.one_hot(to_kiln(idx)), torch.nn.functional.one_hot(idx))
    assert_close(kiln.one_hot(to_kiln(idx), num_classes=6),
                 torch.nn.functional.one_hot(idx, num_classes=6))
