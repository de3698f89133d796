"""Views, joining/splitting and matrix products against PyTorch: values, dtypes and input
gradients in float32 and float64, as functions and as methods, with torch's argument
spellings (varargs or one sequence, negative dims)."""
import pytest
import torch

import kiln
from test_ops_helpers import FLOATS, check_parity, make_input, to_kiln, assert_close

VIEWS = {
    "reshape_varargs": lambda a: a.reshape(4, -1),
    "reshape_tuple": lambda a: a.reshape((2, 12)),
    "reshape_function": lambda a: LIB(a).reshape(a, [-1]),
    "view": lambda a: a.view(6, 4),
    "view_list": lambda a: a.view([3, 8]),
    "view_as": lambda a: a.view_as(a.reshape(4, 6)),
    "permute": lambda a: a.permute(2, 0, 1),
    "permute_function": lambda a: LIB(a).permute(a, (1, 2, 0)),
    "transpose": lambda a: a.transpose(0, -1),
    "transpose_function": lambda a: LIB(a).transpose(a, 1, 2),
    "swapaxes": lambda a: a.swapaxes(0, 1),
    "T": lambda a: a[0].T,
    "t": lambda a: a[0].t(),
    "narrow": lambda a: a.narrow(1, 1, 2),
    "narrow_function": lambda a: LIB(a).narrow(a, -1, 0, 3),
    "select": lambda a: a.select(1, -1),
    "unsqueeze": lambda a: a.unsqueeze(-2),
    "squeeze": lambda a: a[:, :1].squeeze(),
    "squeeze_dim": lambda a: a[:, :1].squeeze(1),
    "squeeze_noop": lambda a: a.squeeze(0),
    "flatten": lambda a: a.flatten(),
    "flatten_range": lambda a: LIB(a).flatten(a, 1, 2),
    "expand": lambda a: a[:, :1].expand(2, 5, 4),
    "expand_keep": lambda a: a.unsqueeze(0).expand(3, -1, -1, -1),
    "expand_as": lambda a: a[:1].expand_as(a),
    "broadcast_to": lambda a: LIB(a).broadcast_to(a[:1], (3, 2, 3, 4)),
    "contiguous": lambda a: a.transpose(0, 1).contiguous(),
    "clone": lambda a: LIB(a).clone(a),
    "unbind": lambda a: LIB(a).unbind(a, 1),
    "unbind_method": lambda a: a.unbind(-1),
    "split": lambda a: LIB(a).split(a, 2, 2),
    "split_sections": lambda a: a.split([1, 2], dim=1),
    "chunk": lambda a: a.chunk(3, -1),
    "chunk_uneven": lambda a: LIB(a).chunk(a, 2, 1),
}


def LIB(a):
    return kiln if isinstance(a, kiln.Tensor) else torch


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", list(VIEWS))
def test_view_and_shape_op(name, dtype):
    x = make_input((2, 3, 4), dtype)
    check_parity(VIEWS[name], VIEWS[name], [x], msg=name)


SHARING_VIEWS = [lambda x: x.view(6, 4), lambda x: x.reshape(24), lambda x: x.permute(1, 0, 2),
                 lambda x: x.transpose(0, 2), lambda x: x.T, lambda x: x.narrow(1, 1, 1),
                 lambda x: x.select(0, 1), lambda x: x.unsqueeze(0),
                 lambda x: x[:, :1].squeeze(1), lambda x: x.flatten(), lambda x: x.detach(),
                 lambda x: x.unbind(1)[2], lambda x: x.split(1, 2)[3],
                 lambda x: x.chunk(2, 1)[1], lambda x: x[1:, ::2]]


@pytest.mark.parametrize("index", range(len(SHARING_VIEWS)))
def test_views_share_memory(index):
    x = kiln.zeros(2, 3, 4)
    view = SHARING_VIEWS[index](x)
    view.fill_(1.0)  # writes through to x
    assert x.sum().item() == view.numel() > 0
    x.fill_(2.0)  # and back
    assert view.sum().item() == 2 * view.numel()


def test_expanded_view_sees_writes_to_its_base():
    x = kiln.zeros(1, 3)
    e = x.expand(4, 3)
    assert e.stride() == (0, 1) and e.data_ptr() == x.data_ptr()
    x[0, 1] = 5.0
    assert e[:, 1].tolist() == [5.0] * 4


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack(dim, dtype):
    a, b, c = make_input((2, 3), dtype), make_input((2, 3), dtype), make_input((2, 3), dtype)
    check_parity(lambda *t: LIB(t[0]).cat(t, dim), lambda *t: torch.cat(t, dim), [a, b, c])
    check_parity(lambda *t: LIB(t[0]).stack(list(t), dim=dim),
                 lambda *t: torch.stack(list(t), dim=dim), [a, b, c])
    d = make_input((2, 1), dtype)
    check_parity(lambda x, y: kiln.concat([x, y], dim=1), lambda x, y: torch.concat([x, y], 1),
                 [a, d])


def test_cat_promotes_mixed_dtypes_like_torch():
    a, b = torch.ones(2, dtype=torch.int64), torch.ones(3, dtype=torch.float32)
    assert_close(kiln.cat([to_kiln(a), to_kiln(b)]), torch.cat([a, b]))


def test_split_chunk_unbind_return_tuples():
    x = kiln.arange(10)
    assert isinstance(x.split(3), tuple) and [len(p) for p in x.split(3)] == [3, 3, 3, 1]
    assert [len(p) for p in kiln.split(x, [2, 8])] == [2, 8]
    assert isinstance(x.chunk(4), tuple) and [len(p) for p in x.chunk(4)] == [3, 3, 3, 1]
    assert [len(p) for p in x.chunk(6)] == [len(p) for p in torch.arange(10).chunk(6)]
    assert isinstance(x.unbind(), tuple) and [p.item() for p in x.unbind()] == list(range(10))


MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                 ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)),
                 ((3,), (2, 3, 4)), ((2, 2, 3), (3,))]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, dtype):
    a, b = make_input(shapes[0], dtype), make_input(shapes[1], dtype)
    check_parity(kiln.matmul, torch.matmul, [a, b])
    check_parity(lambda x, y: x @ y, lambda x, y: x @ y, [a, b])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_mm_bmm_outer_dot_linear(dtype):
    a, b = make_input((2, 3), dtype), make_input((3, 4), dtype)
    check_parity(kiln.mm, torch.mm, [a, b])
    check_parity(lambda x, y: x.mm(y), lambda x, y: x.mm(y), [a, b])
    a3, b3 = make_input((2, 2, 3), dtype), make_input((2, 3, 4), dtype)
    check_parity(kiln.bmm, torch.bmm, [a3, b3])
    u, v = make_input((3,), dtype), make_input((4,), dtype)
    check_parity(kiln.outer, torch.outer, [u, v])
    check_parity(lambda x, y: x.dot(y), lambda x, y: x.dot(y), [u, make_input((3,), dtype)])
    w, bias = make_input((4, 3), dtype), make_input((4,), dtype)
    check_parity(kiln.linear, torch.nn.functional.linear, [a, w, bias])
    check_parity(lambda x, y: kiln.linear(x, y), lambda x, y: torch.nn.functional.linear(x, y),
                 [a3, w])


def test_integer_matmul():
    a, b = torch.arange(6).reshape(2, 3), torch.arange(12).reshape(3, 4)
    assert_close(to_kiln(a) @ to_kiln(b), a @ b)
