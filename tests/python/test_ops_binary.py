"""Binary elementwise ops against PyTorch: values and gradients of both inputs (float32 and
float64) under broadcasting, alpha and rounding modes, number operands, ties in
maximum/minimum, clamp with number and tensor bounds, where and lerp."""
import pytest
import torch

import kiln
from test_ops_helpers import FLOATS, check_parity, make_input, to_kiln, assert_close

# name -> (kiln fn, torch fn, domain of the second input, differentiable)
BINARY = {
    "add": (kiln.add, torch.add, {}, True),
    "add_alpha": (lambda a, b: kiln.add(a, b, alpha=2.5),
                  lambda a, b: torch.add(a, b, alpha=2.5), {}, True),
    "sub": (kiln.sub, torch.sub, {}, True),
    "subtract_alpha": (lambda a, b: kiln.subtract(a, b, alpha=0.5),
                       lambda a, b: torch.subtract(a, b, alpha=0.5), {}, True),
    "mul": (kiln.mul, torch.mul, {}, True),
    "multiply": (kiln.multiply, torch.multiply, {}, True),
    "div": (kiln.div, torch.div, dict(away_from=0), True),
    "divide": (kiln.divide, torch.divide, dict(away_from=0), True),
    "true_divide": (kiln.true_divide, torch.true_divide, dict(away_from=0), True),
    "div_floor": (lambda a, b: kiln.div(a, b, rounding_mode="floor"),
                  lambda a, b: torch.div(a, b, rounding_mode="floor"), dict(away_from=0), True),
    "div_trunc": (lambda a, b: kiln.div(a, b, rounding_mode="trunc"),
                  lambda a, b: torch.div(a, b, rounding_mode="trunc"), dict(away_from=0), True),
    "floor_divide": (kiln.floor_divide, torch.floor_divide, dict(away_from=0), False),
    "remainder": (kiln.remainder, torch.remainder, dict(away_from=0), True),
    "pow": (kiln.pow, torch.pow, {}, True),
    "minimum": (kiln.minimum, torch.minimum, {}, True),
    "maximum": (kiln.maximum, torch.maximum, {}, True),
    "max_other": (kiln.max, torch.max, {}, True),
    "min_other": (kiln.min, torch.min, {}, True),
    "lerp_number": (lambda a, b: kiln.lerp(a, b, 0.3), lambda a, b: torch.lerp(a, b, 0.3), {},
                    True),
    "eq": (kiln.eq, torch.eq, {}, False),
    "ne": (kiln.ne, torch.ne, {}, False),
    "lt": (kiln.lt, torch.lt, {}, False),
    "le": (kiln.le, torch.le, {}, False),
    "gt": (kiln.gt, torch.gt, {}, False),
    "ge": (kiln.ge, torch.ge, {}, False),
    "less": (kiln.less, torch.less, {}, False),
    "greater_equal": (kiln.greater_equal, torch.greater_equal, {}, False),
    "logical_and": (kiln.logical_and, torch.logical_and, {}, False),
    "logical_or": (kiln.logical_or, torch.logical_or, {}, False),
}

SHAPES = [((3, 4), (3, 4)), ((3, 1, 4), (2, 4)), ((4,), (3, 4)), ((2, 3), ()), ((1,), (5, 1))]


def _inputs(name, shapes, dtype):
    domain = BINARY[name][2]
    if name == "pow":  # positive base: the exponent's gradient takes its log
        return make_input(shapes[0], dtype, low=0.5, high=2), make_input(shapes[1], dtype)
    return make_input(shapes[0], dtype), make_input(shapes[1], dtype, **domain)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_function_broadcasting(name, shapes, dtype):
    kfn, tfn, _, grad = BINARY[name]
    a, b = _inputs(name, shapes, dtype)
    check_parity(kfn, tfn, [a, b], grad=grad, msg=name)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "remainder", "pow", "maximum",
                                  "minimum", "eq", "lt", "ge", "logical_and"])
def test_binary_method_matches_function(name):
    a, b = _inputs(name, ((2, 3), (3,)), kiln.float64)
    check_parity(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), [a, b],
                 grad=BINARY[name][3], msg=name)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_operators(dtype):
    a = make_input((3, 4), dtype, away_from=0)
    b = make_input((4,), dtype, away_from=0)
    ops = {
        "+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
        "/": lambda x, y: x / y, "%": lambda x, y: x % y, "@": lambda x, y: x @ y,
        "neg": lambda x, y: -x + y, "abs": lambda x, y: abs(x) * y,
        "**2": lambda x, y: x ** 2 + y, "2**": lambda x, y: 2 ** x + y,
        "number-": lambda x, y: 1.5 - x * y, "number/": lambda x, y: 2 / x + y,
    }
    for name, fn in ops.items():
        check_parity(fn, fn, [a, b], msg=name)
    # torch has no gradient for floor_divide, nor for a number's remainder by a tensor.
    for name, fn in {"//": lambda x, y: x // y, "number%": lambda x, y: 3.0 % y + x}.items():
        check_parity(fn, fn, [a, b], grad=False, msg=name)
    for name, fn in {"<": lambda x, y: x < y, "<=": lambda x, y: x <= y,
                     ">": lambda x, y: x > y, ">=": lambda x, y: x >= y,
                     "==": lambda x, y: x == y, "!=": lambda x, y: x != y,
                     "==number": lambda x, y: x == 0.5, "<number": lambda x, y: x < 1}.items():
        check_parity(fn, fn, [a, b], grad=False, msg=name)


def test_bool_operators():
    a = torch.tensor([[True, False, True], [False, False, True]])
    b = torch.tensor([True, True, False])
    for fn in [lambda x, y: x & y, lambda x, y: x | y, lambda x, y: x ^ y, lambda x, y: ~x,
               lambda x, y: x & True, lambda x, y: False | y, lambda x, y: x ^ True]:
        assert_close(fn(to_kiln(a), to_kiln(b)), fn(a, b))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_integer_and_float_division_modes(dtype):
    a = torch.tensor([7, -7, 7, -7, 6, 0])
    b = torch.tensor([2, 2, -2, -2, 3, 5])
    for mode in [None, "floor", "trunc"]:
        for x, y in [(a, b), (a.to(torch_dtype(dtype)), b.to(torch_dtype(dtype)))]:
            assert_close(kiln.div(to_kiln(x), to_kiln(y), rounding_mode=mode),
                         torch.div(x, y, rounding_mode=mode), msg=str(mode))
    assert_close(to_kiln(a) // 2, a // 2)
    assert_close(to_kiln(a) % -3, a % -3)
    assert_close(to_kiln(a).remainder(3), a.remainder(3))


def torch_dtype(kd):
    return torch.float64 if kd is kiln.float64 else torch.float32


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_ties_split_the_gradient_like_torch(dtype):
    a = torch.tensor([1.0, 2.0, 3.0]).to(torch_dtype(dtype))
    b = torch.tensor([1.0, 0.0, 3.0]).to(torch_dtype(dtype))
    for kfn, tfn in [(kiln.maximum, torch.maximum), (kiln.minimum, torch.minimum)]:
        check_parity(kfn, tfn, [a, b])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_clamp_with_numbers_and_tensors(dtype):
    x = make_input((3, 4), dtype)
    x[0, 0] = 0.5  # exactly on a bound: torch's gradient passes through
    for lo, hi in [(-0.5, 0.5), (None, 0.3), (-0.2, None), (1, 2)]:
        check_parity(lambda a: kiln.clamp(a, lo, hi), lambda a: torch.clamp(a, lo, hi), [x])
        check_parity(lambda a: a.clip(min=lo, max=hi), lambda a: a.clip(min=lo, max=hi), [x])
    lo, hi = make_input((4,), dtype, low=-1, high=0), make_input((3, 1), dtype, low=0, high=1)
    check_parity(lambda a, l, h: kiln.clamp(a, l, h), lambda a, l, h: torch.clamp(a, l, h),
                 [x, lo, hi])
    check_parity(lambda a, l: a.clamp(min=l), lambda a, l: a.clamp(min=l), [x, lo])
    check_parity(lambda a: kiln.clamp_min(a, 0.1), lambda a: torch.clamp_min(a, 0.1), [x])
    check_parity(lambda a: a.clamp_max(0.1), lambda a: a.clamp_max(0.1), [x])


def test_clamp_of_integers_stays_integer():
    x = torch.tensor([1, 5, 9])
    assert_close(kiln.clamp(to_kiln(x), 2, 6), torch.clamp(x, 2, 6))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_where_and_lerp(dtype):
    c = torch.rand(3, 4) > 0.5
    a, b = make_input((3, 4), dtype), make_input((4,), dtype)
    check_parity(lambda x, y: kiln.where(to_kiln(c), x, y), lambda x, y: torch.where(c, x, y),
                 [a, b])
    # torch 1.13 takes a number for both values or neither; Kiln also takes one of each, which
    # equals torch's where with that number as a 0-d tensor.
    def num(v):
        return torch.tensor(v, dtype=a.dtype)
    check_parity(lambda x: kiln.where(to_kiln(c), x, 0.0), lambda x: torch.where(c, x, num(0.)),
                 [a])
    check_parity(lambda x: x.where(to_kiln(c), 2.0), lambda x: x.where(c, num(2.0)), [a])
    check_parity(lambda y: kiln.where(to_kiln(c), 1.5, y), lambda y: torch.where(c, num(1.5), y),
                 [b])
    assert_close(kiln.where(to_kiln(c), 1.0, 0), torch.where(c, 1.0, 0))
    w = make_input((3, 1), dtype, low=0, high=1)
    check_parity(kiln.lerp, torch.lerp, [a, b, w])
    check_parity(lambda x, y: x.lerp(y, 0.25), lambda x, y: x.lerp(y, 0.25), [a, b])


def test_pow_forms():
    x = make_input((2, 3), kiln.float64, low=0.5, high=2)
    for e in [2, 0.5, -1, 3.0, 0]:
        check_parity(lambda a: kiln.pow(a, e), lambda a: torch.pow(a, e), [x], msg=str(e))
    check_parity(lambda a: kiln.pow(2.5, a), lambda a: torch.pow(2.5, a), [x])
    i = torch.tensor([1, 2, 3])
    assert_close(to_kiln(i) ** 2, i ** 2)
    assert_close(to_kiln(i) ** 0.5, i ** 0.5)
    assert_close(2 ** to_kiln(i), 2 ** i)
    assert_close(to_kiln(i).pow(to_kiln(i)), i.pow(i))


def test_allclose_and_equal():
    a = kiln.tensor([1.0, 2.0, float("nan")])
    b = kiln.tensor([1.0, 2.0 + 1e-5, float("nan")])
    ta, tb = torch.tensor([1.0, 2.0, float("nan")]), torch.tensor([1.0, 2.0 + 1e-5, float("nan")])
    for kwargs in [{}, dict(equal_nan=True), dict(rtol=0, atol=0, equal_nan=True),
                   dict(rtol=1e-4, equal_nan=True)]:
        assert kiln.allclose(a, b, **kwargs) == torch.allclose(ta, tb, **kwargs), kwargs
        assert a.allclose(b, **kwargs) == ta.allclose(tb, **kwargs), kwargs
    assert kiln.equal(a[:2], a[:2]) and not kiln.equal(a[:2], b[:2])
    assert not kiln.equal(a[:2], a[:1])
