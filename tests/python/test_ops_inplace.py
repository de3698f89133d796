"""In-place methods and operators against PyTorch: every x.op_(...) and x op= y returns x itself,
writes the op's result, and on a non-leaf keeps gradients right (float32 and float64); views are
written through; a leaf that requires grad and lossy dtype writes are refused."""
import pytest
import torch

import kiln
from test_ops_helpers import FLOATS, check_parity, make_input, to_kiln, assert_close

UNARY = {
    "neg_": {}, "negative_": {}, "exp_": {}, "log_": dict(low=0.5, high=2),
    "log1p_": dict(low=0, high=2), "expm1_": {}, "sqrt_": dict(low=0.5, high=2),
    "rsqrt_": dict(low=0.5, high=2), "abs_": dict(away_from=0), "absolute_": dict(away_from=0),
    "sign_": dict(away_from=0), "sin_": {}, "cos_": {}, "erf_": {},
    "reciprocal_": dict(away_from=0), "square_": {}, "floor_": {}, "ceil_": {}, "round_": {},
    "relu_": dict(away_from=0), "sigmoid_": {}, "tanh_": {},
}

BINARY = {  # name -> (call with other, domain of other)
    "add_": (lambda y, o: y.add_(o), {}),
    "add_alpha_": (lambda y, o: y.add_(o, alpha=-1.5), {}),
    "sub_": (lambda y, o: y.sub_(o, alpha=2), {}),
    "subtract_": (lambda y, o: y.subtract_(o), {}),
    "mul_": (lambda y, o: y.mul_(o), {}),
    "multiply_": (lambda y, o: y.multiply_(o), {}),
    "div_": (lambda y, o: y.div_(o), dict(away_from=0)),
    "divide_floor_": (lambda y, o: y.divide_(o, rounding_mode="floor"), dict(away_from=0)),
    "true_divide_": (lambda y, o: y.true_divide_(o), dict(away_from=0)),
    "remainder_": (lambda y, o: y.remainder_(o), dict(away_from=0)),
    "pow_tensor_": (lambda y, o: y.abs_().add_(0.5).pow_(o), {}),
    "lerp_": (lambda y, o: y.lerp_(o, 0.25), {}),
    "iadd": (lambda y, o: y.__iadd__(o), {}),
    "isub": (lambda y, o: y.__isub__(o), {}),
    "imul": (lambda y, o: y.__imul__(o), {}),
    "itruediv": (lambda y, o: y.__itruediv__(o), dict(away_from=0)),
    "imod": (lambda y, o: y.__imod__(o), dict(away_from=0)),
    "ipow": (lambda y, o: y.abs_().add_(0.5).__ipow__(o), {}),
    "masked_fill_tensor_": (lambda y, o: y.masked_fill_(y > 0, o.sum()), {}),
}

NUMBER = {
    "add_": lambda y: y.add_(2.5), "sub_alpha_": lambda y: y.sub_(1, alpha=3),
    "mul_": lambda y: y.mul_(-2), "div_": lambda y: y.div_(4.0),
    "div_trunc_": lambda y: y.div_(0.7, rounding_mode="trunc"),
    "floor_divide_": lambda y: y.floor_divide_(0.3), "remainder_": lambda y: y.remainder_(0.4),
    "pow_": lambda y: y.pow_(3), "clamp_": lambda y: y.clamp_(-0.5, 0.5),
    "clip_": lambda y: y.clip_(max=0.1), "clamp_min_": lambda y: y.clamp_min_(0.2),
    "clamp_max_": lambda y: y.clamp_max_(0.2), "fill_": lambda y: y.fill_(1.5),
    "zero_": lambda y: y.zero_(), "masked_fill_": lambda y: y.masked_fill_(y < 0, 9.0),
    "iadd": lambda y: y.__iadd__(1), "isub": lambda y: y.__isub__(0.5),
    "imul": lambda y: y.__imul__(3), "itruediv": lambda y: y.__itruediv__(2),
    "ifloordiv": lambda y: y.__ifloordiv__(0.5), "imod": lambda y: y.__imod__(0.3),
    "ipow": lambda y: y.__ipow__(2), "eq_": lambda y: y.eq_(0.0),
    "lt_": lambda y: y.lt_(0.5), "ge_": lambda y: y.ge_(0.1), "ne_": lambda y: y.ne_(1),
}


def _on_a_copy(fn):
    """y = a * 1; fn(y) must return y itself; the result is y (whose graph includes the write)."""
    def run(a, *rest):
        y = a * 1
        out = fn(y, *rest)
        assert out is y, "in-place ops return self"
        return y
    return run


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_inplace(name, dtype):
    x = make_input((3, 4), dtype, **UNARY[name])
    fn = _on_a_copy(lambda y: getattr(y, name)())
    check_parity(fn, fn, [x], msg=name)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_inplace_with_a_tensor(name, dtype):
    call, domain = BINARY[name]
    x, o = make_input((3, 4), dtype), make_input((4,), dtype, **domain)
    fn = _on_a_copy(call)
    check_parity(fn, fn, [x, o], msg=name)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", list(NUMBER))
def test_inplace_with_a_number(name, dtype):
    x = make_input((3, 4), dtype, away_from=0)
    fn = _on_a_copy(NUMBER[name])
    # torch has no derivative for floor_divide; Kiln's result does not require grad either.
    check_parity(fn, fn, [x], grad=name not in ("floor_divide_", "ifloordiv"), msg=name)


def test_inplace_on_integer_and_bool_tensors():
    for fn in [lambda y: y.add_(2), lambda y: y.mul_(3), lambda y: y.__ifloordiv__(2),
               lambda y: y.__imod__(3), lambda y: y.clamp_(1, 4), lambda y: y.__ipow__(2),
               lambda y: y.abs_(), lambda y: y.neg_(), lambda y: y.fill_(7)]:
        t = torch.tensor([[1, -2, 3], [4, 5, -6]])
        k = to_kiln(t)
        assert fn(k) is k
        fn(t)
        assert_close(k, t)
    for fn in [lambda m: m.__iand__(True), lambda m: m.__ior__(m), lambda m: m.__ixor__(m),
               lambda m: m.logical_not_(), lambda m: m.logical_and_(m)]:
        t = torch.tensor([True, False, True])
        k = to_kiln(t)
        fn(k)
        fn(t)
        assert_close(k, t)


def test_lossy_and_forbidden_writes_are_refused():
    i = kiln.tensor([1, 2])
    with pytest.raises(TypeError, match="add_"):
        i.add_(0.5)
    with pytest.raises(TypeError, match="cannot be written"):
        i /= 2
    with pytest.raises(TypeError, match="sqrt_"):
        i.sqrt_()
    leaf = kiln.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.mul_(2)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf += 1
    with kiln.no_grad():
        leaf.mul_(2)  # allowed without history, like torch's optimizer updates
    assert leaf.tolist() == [2.0, 2.0] and leaf.is_leaf and leaf.requires_grad
    with pytest.raises(RuntimeError, match="share one memory location"):
        kiln.zeros(1, 3).expand(2, 3).add_(1)


def test_inplace_writes_through_views_and_bumps_the_version():
    x = kiln.zeros(3, 4)
    v0 = x._version
    x[1].add_(1)
    x[:, 2] += 5
    x.t()[0].fill_(-1)
    t = torch.zeros(3, 4)
    t[1].add_(1)
    t[:, 2] += 5
    t.t()[0].fill_(-1)
    assert_close(x, t)
    assert x._version > v0


def test_saved_tensor_modified_in_place_is_detected():
    x = kiln.ones(3, requires_grad=True)
    y = x * 2
    z = y * y  # saves y
    with pytest.raises(RuntimeError):
        y.add_(1)
        z.sum().backward()


def test_copy_casts_and_broadcasts_like_torch():
    for src in [torch.tensor([1.7, -2.2, 3.9]), torch.tensor(5), torch.tensor([True, False, True])]:
        t = torch.zeros(2, 3, dtype=torch.int64)
        k = to_kiln(t)
        assert k.copy_(to_kiln(src)) is k
        t.copy_(src)
        assert_close(k, t)
    x = make_input((2, 3), kiln.float64)
    v = make_input((3,), kiln.float64)
    fn = _on_a_copy(lambda y, s: y.copy_(s * 2))
    check_parity(fn, fn, [x, v])
