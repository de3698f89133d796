"""Reductions and softmax against PyTorch: dim None / int / tuple / negative, keepdim, values and
gradients in float32 and float64, result dtypes of integer inputs, max/min named tuples,
var/std's unbiased/correction, norm orders, and the gradient at ties."""
import pytest
import torch

import kiln
from test_ops_helpers import FLOATS, check_parity, make_input, to_kiln, assert_close

DIMS = [None, 1, -1, (0, 2), (-1, 0), ()]


def _dims_kwargs(dim, keepdim):
    return {} if dim is None else dict(dim=dim, keepdim=keepdim)


# dim=() means "all dims" for sum/mean/amax/amin in torch 1.13 but differs for the others, and
# logsumexp has no dim=None form: those pairs are left out.
REDUCTIONS = [(name, dim) for name in ["sum", "mean", "amax", "amin", "logsumexp", "norm", "var",
                                        "std"]
              for dim in DIMS
              if not (dim == () and name in ("logsumexp", "var", "std", "norm"))
              and not (dim is None and name == "logsumexp")]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name,dim", REDUCTIONS, ids=str)
def test_multi_dim_reduction(name, dim, keepdim, dtype):
    x = make_input((2, 3, 4), dtype)
    kw = _dims_kwargs(dim, keepdim)
    check_parity(lambda a: getattr(kiln, name)(a, **kw), lambda a: getattr(torch, name)(a, **kw),
                 [x], msg=f"{name} {kw}")
    check_parity(lambda a: getattr(a, name)(**kw), lambda a: getattr(a, name)(**kw), [x],
                 msg=f"method {name} {kw}")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, -1])
def test_prod(dim, keepdim, dtype):
    x = make_input((3, 4), dtype, low=0.5, high=1.5)
    kw = _dims_kwargs(dim, keepdim)
    check_parity(lambda a: kiln.prod(a, **kw), lambda a: torch.prod(a, **kw), [x])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_prod_gradient_with_zeros(dtype):
    x = make_input((3, 4), dtype)
    x[0, 1] = 0
    x[2, 0] = 0
    x[2, 3] = 0
    check_parity(kiln.prod, torch.prod, [x])
    check_parity(lambda a: a.prod(1), lambda a: a.prod(1), [x])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("unbiased", [True, False])
def test_var_std_unbiased_and_correction(unbiased, dtype):
    x = make_input((3, 5), dtype)
    for name in ["var", "std"]:
        check_parity(lambda a: getattr(kiln, name)(a, 1, unbiased),
                     lambda a: getattr(torch, name)(a, 1, unbiased), [x])
        check_parity(lambda a: getattr(a, name)(unbiased=unbiased),
                     lambda a: getattr(a, name)(unbiased=unbiased), [x])
        for c in [0, 1, 2]:
            check_parity(lambda a: getattr(kiln, name)(a, dim=0, correction=c),
                         lambda a: getattr(torch, name)(a, dim=0, correction=c), [x])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_along_dim_is_a_named_tuple(name, dtype):
    x = make_input((3, 4, 2), dtype)
    for dim, keepdim in [(0, False), (1, True), (-1, False)]:
        k, t = check_parity(lambda a: getattr(kiln, name)(a, dim, keepdim),
                            lambda a: getattr(torch, name)(a, dim, keepdim), [x])
        kx = to_kiln(x)
        r = getattr(kx, name)(dim=dim, keepdim=keepdim)
        assert type(r).__name__ == name and r._fields == ("values", "indices")
        values, indices = r
        assert values is not None and indices.dtype is kiln.int64
        assert_close(r.indices, getattr(torch, name)(x, dim, keepdim).indices)
    check_parity(lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), [x])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_gradient_at_ties(dtype):
    td = torch.float64 if dtype is kiln.float64 else torch.float32
    x = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], dtype=td)
    for kfn, tfn in [(kiln.max, torch.max), (kiln.min, torch.min),
                     (lambda a: kiln.amax(a, 1), lambda a: torch.amax(a, 1)),
                     (lambda a: kiln.amin(a, 1), lambda a: torch.amin(a, 1)),
                     (lambda a: kiln.max(a, 1), lambda a: torch.max(a, 1)),
                     (lambda a: kiln.norm(a, float("inf")), lambda a: torch.norm(a, float("inf")))]:
        check_parity(kfn, tfn, [x])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("p", [1, 2, 3, 0.5, float("inf"), -float("inf"), "fro"], ids=str)
def test_norm_orders(p, dtype):
    x = make_input((3, 4), dtype, away_from=0)
    check_parity(lambda a: kiln.norm(a, p), lambda a: torch.norm(a, p), [x], msg=str(p))
    if p != "fro":
        check_parity(lambda a: a.norm(p, dim=1, keepdim=True),
                     lambda a: a.norm(p, dim=1, keepdim=True), [x], msg=str(p))


def test_norm_zero_order_counts_non_zeros():
    x = torch.tensor([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0]])
    assert_close(kiln.norm(to_kiln(x), 0), torch.norm(x, 0))
    assert_close(kiln.norm(to_kiln(x), 0, dim=1), torch.norm(x, 0, dim=1))


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name, dim):
    x = make_input((3, 4), kiln.float32)
    x[1, 2] = x[1, 3] = 5 if name == "argmax" else -5  # ties: the first index, like torch
    kw = {} if dim is None else dict(dim=dim)
    assert_close(getattr(kiln, name)(to_kiln(x), **kw), getattr(torch, name)(x, **kw))
    if dim is not None:
        assert_close(getattr(to_kiln(x), name)(dim, keepdim=True),
                     getattr(x, name)(dim, keepdim=True))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
def test_integer_reduction_dtypes(dtype):
    t = torch.tensor([[1, 0, 3], [2, 1, 1]]).to(dtype)
    k = to_kiln(t)
    for name, kw in [("sum", {}), ("sum", dict(dim=1)), ("prod", {}), ("amax", dict(dim=0)),
                     ("amin", {}), ("max", {}), ("min", {}), ("argmax", {}),
                     ("any", {}), ("all", {}), ("any", dict(dim=1)), ("all", dict(dim=0))]:
        try:
            expected = getattr(torch, name)(t, **kw)
        except RuntimeError:  # e.g. argmax of bool: Kiln may accept what torch 1.13 refuses
            continue
        assert_close(getattr(kiln, name)(k, **kw), expected, msg=f"{name} {kw} {dtype}")
    assert_close(kiln.sum(k, dtype=kiln.float64), torch.sum(t, dtype=torch.float64))
    assert_close(k.sum(1, dtype=kiln.float32), t.sum(1, dtype=torch.float32))
    assert_close(kiln.mean(k, dtype=kiln.float64), torch.mean(t, dtype=torch.float64))
    with pytest.raises((TypeError, RuntimeError)):
        torch.mean(t)
    with pytest.raises(TypeError, match="mean"):
        kiln.mean(k)


def test_sum_and_mean_dtype_argument_on_floats():
    x = make_input((3, 4), kiln.float32)
    k, t = check_parity(lambda a: kiln.sum(a, dtype=kiln.float64),
                        lambda a: torch.sum(a, dtype=torch.float64), [x])
    check_parity(lambda a: a.mean(0, dtype=kiln.float64), lambda a: a.mean(0, dtype=torch.float64),
                 [x])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(name, dim, dtype):
    x = make_input((3, 4, 5), dtype, low=-5, high=5)
    check_parity(lambda a: getattr(kiln, name)(a, dim), lambda a: getattr(torch, name)(a, dim),
                 [x])
    check_parity(lambda a: getattr(a, name)(dim=dim), lambda a: getattr(a, name)(dim=dim), [x])


def test_softmax_dtype_argument():
    x = make_input((2, 3), kiln.float32)
    check_parity(lambda a: kiln.softmax(a, 1, dtype=kiln.float64),
                 lambda a: torch.softmax(a, 1, dtype=torch.float64), [x])


def test_any_all():
    t = torch.tensor([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0]])
    for name in ["any", "all"]:
        for kw in [{}, dict(dim=1), dict(dim=0, keepdim=True)]:
            assert_close(getattr(kiln, name)(to_kiln(t), **kw), getattr(torch, name)(t, **kw),
                         msg=f"{name} {kw}")
            assert_close(getattr(to_kiln(t) > 0, name)(**kw), getattr(t > 0, name)(**kw))


def test_sum_to_size():
    x = make_input((2, 3, 4), kiln.float64)
    check_parity(lambda a: a.sum_to_size(3, 1), lambda a: a.sum_to_size(3, 1), [x])
    check_parity(lambda a: a.sum_to_size((1, 3, 4)), lambda a: a.sum_to_size((1, 3, 4)), [x])
    check_parity(lambda a: kiln.sum_to(a, [4]), lambda a: a.sum_to_size(4), [x])


def test_reductions_of_empty_tensors():
    t = torch.zeros(0, 3)
    k = to_kiln(t)
    assert_close(kiln.sum(k), torch.sum(t))
    assert_close(kiln.sum(k, 0), torch.sum(t, 0))
    assert_close(kiln.prod(k, 0), torch.prod(t, 0))
    assert kiln.mean(k).isnan().item() and torch.mean(t).isnan().item()
    with pytest.raises((ValueError, RuntimeError, IndexError)):
        kiln.amax(k)
    with pytest.raises(RuntimeError):
        torch.amax(t)
