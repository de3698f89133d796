"""kiln.autograd.functional (vjp, jvp, vhp, hvp, jacobian, hessian) against
torch.autograd.functional on nonlinear multi-input functions in float64, with the same tuple /
single-tensor return conventions; and gradcheck / gradgradcheck passing for correct derivatives
and failing for wrong ones."""
import numpy as np
import pytest
import torch

import kiln
import kiln.autograd.functional as KF
import torch.autograd.functional as TF
from kiln.autograd.gradcheck import GradcheckError
from parity import assert_close


def both(*shapes):
    arrays = [np.random.randn(*s) for s in shapes]
    return tuple(kiln.tensor(a) for a in arrays), tuple(torch.tensor(a) for a in arrays)


def two_in_two_out(x, y):
    """x: [3], y: [2, 3] -> ([2, 3], [])"""
    return (x.exp() * y.tanh(), (x * x).sum() * y.sin().sum())


def two_in_one_out(x, y):
    return (x.sin() * y).sum(0)


def scalar_of_two(x, y):
    return ((x * y.exp()).sum() ** 2 + (x.tanh() * x).sum()) / 3


def one_in_one_out(x):
    return x.exp() * x.sin()


def assert_tree_close(k, t, msg=""):
    """Same nesting of tuples (never a list where torch has a tuple), values close."""
    if isinstance(t, torch.Tensor):
        assert isinstance(k, kiln.Tensor), f"{msg}: {type(k).__name__} instead of a Tensor"
        assert_close(k, t, msg=msg)
        return
    assert type(k) is type(t) is tuple, f"{msg}: {type(k).__name__} vs {type(t).__name__}"
    assert len(k) == len(t), msg
    for i, (a, b) in enumerate(zip(k, t)):
        assert_tree_close(a, b, f"{msg}[{i}]")


def test_vjp_tuple_inputs_and_outputs():
    (xk, yk), (xt, yt) = both((3,), (2, 3))
    (vk1, vk2), (vt1, vt2) = both((2, 3), ())
    assert_tree_close(KF.vjp(two_in_two_out, (xk, yk), (vk1, vk2)),
                      TF.vjp(two_in_two_out, (xt, yt), (vt1, vt2)), "vjp")


def test_vjp_single_tensor_and_default_v():
    (xk,), (xt,) = both((4,))
    (vk,), (vt,) = both((4,))
    assert_tree_close(KF.vjp(one_in_one_out, xk, vk), TF.vjp(one_in_one_out, xt, vt), "vjp")
    assert_tree_close(KF.vjp(lambda x: one_in_one_out(x).sum(), xk),
                      TF.vjp(lambda x: one_in_one_out(x).sum(), xt), "scalar vjp")
    with pytest.raises(RuntimeError, match="v can only be None"):
        KF.vjp(one_in_one_out, xk)


def test_jvp_tuple_and_single():
    (xk, yk), (xt, yt) = both((3,), (2, 3))
    (uk, wk), (ut, wt) = both((3,), (2, 3))
    assert_tree_close(KF.jvp(two_in_two_out, (xk, yk), (uk, wk)),
                      TF.jvp(two_in_two_out, (xt, yt), (ut, wt)), "jvp")
    assert_tree_close(KF.jvp(one_in_one_out, xk, uk), TF.jvp(one_in_one_out, xt, ut), "single")


def test_vjp_create_graph_is_differentiable():
    (xk,), (xt,) = both((3,))
    (vk,), (vt,) = both((3,))
    xk.requires_grad_()
    xt.requires_grad_()
    _, gk = KF.vjp(one_in_one_out, xk, vk, create_graph=True)
    _, gt = TF.vjp(one_in_one_out, xt, vt, create_graph=True)
    assert gk.requires_grad
    assert_close(kiln.autograd.grad(gk.sum(), xk)[0], torch.autograd.grad(gt.sum(), xt)[0])


def test_hvp_and_vhp():
    (xk, yk), (xt, yt) = both((3,), (3,))
    (uk, wk), (ut, wt) = both((3,), (3,))
    assert_tree_close(KF.vhp(scalar_of_two, (xk, yk), (uk, wk)),
                      TF.vhp(scalar_of_two, (xt, yt), (ut, wt)), "vhp")
    # PyTorch's hvp takes one more derivative; the Hessian is symmetric so values agree to
    # rounding (float64: well inside 1e-10 relative).
    assert_tree_close(KF.hvp(scalar_of_two, (xk, yk), (uk, wk)),
                      TF.hvp(scalar_of_two, (xt, yt), (ut, wt)), "hvp")
    with pytest.raises(RuntimeError, match="single element"):
        KF.hvp(lambda x: x * 2, xk, uk)


@pytest.mark.parametrize("func, shapes", [
    (one_in_one_out, [(2, 2)]),
    (two_in_one_out, [(3,), (2, 3)]),
    (two_in_two_out, [(3,), (2, 3)]),
    (lambda x: (x.exp(), x.sum()), [(3,)]),
])
def test_jacobian_return_conventions(func, shapes):
    ks, ts = both(*shapes)
    ki, ti = (ks[0], ts[0]) if len(shapes) == 1 else (ks, ts)
    assert_tree_close(KF.jacobian(func, ki), TF.jacobian(func, ti), "jacobian")


def test_jacobian_forward_mode_and_vectorize_give_the_same_values():
    (xk, yk), (xt, yt) = both((3,), (2, 3))
    expected = TF.jacobian(two_in_two_out, (xt, yt))
    assert_tree_close(KF.jacobian(two_in_two_out, (xk, yk), vectorize=True), expected, "vec")
    assert_tree_close(KF.jacobian(two_in_two_out, (xk, yk), vectorize=True,
                                  strategy="forward-mode"), expected, "forward")
    with pytest.raises(ValueError, match="requires `vectorize=True`"):
        KF.jacobian(two_in_two_out, (xk, yk), strategy="forward-mode")


def test_hessian():
    (xk, yk), (xt, yt) = both((2,), (2,))
    assert_tree_close(KF.hessian(scalar_of_two, (xk, yk)), TF.hessian(scalar_of_two, (xt, yt)),
                      "tuple")
    assert_tree_close(KF.hessian(lambda x: (x.exp() * x).sum(), xk),
                      TF.hessian(lambda x: (x.exp() * x).sum(), xt), "single")


def test_independent_input_gives_zeros_or_strict_error():
    (xk, yk), (xt, yt) = both((2,), (2,))
    assert_tree_close(KF.jacobian(lambda x, y: x.exp(), (xk, yk)),
                      TF.jacobian(lambda x, y: x.exp(), (xt, yt)), "zeros")
    with pytest.raises(RuntimeError, match="independent of input 1"):
        KF.vjp(lambda x, y: x.exp().sum(), (xk, yk), strict=True)


def test_wrong_inputs_raise_like_torch():
    (xk,), _ = both((2,))
    with pytest.raises(TypeError, match="must be a Tensor"):
        KF.vjp(one_in_one_out, [1.0, 2.0], xk)
    with pytest.raises(RuntimeError, match="v has invalid size"):
        KF.jvp(one_in_one_out, xk, kiln.ones(3, dtype=kiln.float64))


def exp_with_backward(correct_first, correct_second=True):
    class Exp(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            y = x.exp() * scale
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            y, = ctx.saved_tensors
            if not correct_first:
                y = y * 1.01
            if not correct_second:
                y = y.detach()  # right values, but no history: second derivatives are lost
            return grad * y, None

    return Exp


def test_gradcheck_passes_for_a_correct_function():
    x = kiln.randn(2, 3, dtype=kiln.float64, requires_grad=True)
    assert kiln.autograd.gradcheck(exp_with_backward(True).apply, (x, 2.0))
    assert kiln.autograd.gradgradcheck(exp_with_backward(True).apply, (x, 2.0))
    assert kiln.autograd.gradcheck(lambda a, b: (a * b.tanh(), a.sum()),
                                   (x, kiln.randn(3, dtype=kiln.float64, requires_grad=True)))


def test_gradcheck_fails_for_a_wrong_backward():
    x = kiln.randn(4, dtype=kiln.float64, requires_grad=True)
    wrong = exp_with_backward(False).apply
    assert kiln.autograd.gradcheck(wrong, (x, 1.0), raise_exception=False) is False
    with pytest.raises(GradcheckError, match="Jacobian mismatch for input 0"):
        kiln.autograd.gradcheck(wrong, (x, 1.0))


def test_gradgradcheck_fails_when_backward_is_not_differentiable():
    x = kiln.randn(3, dtype=kiln.float64, requires_grad=True)
    first_order_only = exp_with_backward(True, correct_second=False).apply
    assert kiln.autograd.gradcheck(first_order_only, (x, 1.0))
    with pytest.raises(GradcheckError, match="second order"):
        kiln.autograd.gradgradcheck(first_order_only, (x, 1.0))


def test_gradcheck_tolerances_and_inputs():
    x = kiln.randn(3, dtype=kiln.float64, requires_grad=True)
    # 1% off passes with a loose rtol, as in PyTorch's rule |a - n| <= atol + rtol * |n|.
    assert kiln.autograd.gradcheck(exp_with_backward(False).apply, (x, 1.0), rtol=0.02)
    with pytest.raises(TypeError, match="float64"):
        kiln.autograd.gradcheck(lambda a: a * 2, kiln.randn(2, requires_grad=True))
    with pytest.raises(ValueError, match="no input requires grad"):
        kiln.autograd.gradcheck(lambda a: a * 2, kiln.randn(2, dtype=kiln.float64))
    with pytest.raises(NotImplementedError, match="check_forward_ad"):
        kiln.autograd.gradcheck(lambda a: a * 2, x, check_forward_ad=True)
