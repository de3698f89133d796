"""kiln.autograd.backward / grad follow torch.autograd's conventions: a tensor or a sequence
anywhere a sequence is taken, a tuple back from grad, retain_graph and allow_unused, and the same
gradients as PyTorch."""
import numpy as np
import pytest
import torch

import kiln
from parity import assert_close


def inputs_for_both(*shapes):
    arrays = [np.random.randn(*s) for s in shapes]
    return ([kiln.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def two_outputs(x, y):
    return (x * y).tanh().sum(), (x.exp() * y).sum()


def test_grad_returns_a_tuple_for_one_or_many_inputs():
    (xk, yk), (xt, yt) = inputs_for_both((3,), (3,))
    single_k = kiln.autograd.grad((xk * yk).sum(), xk)
    single_t = torch.autograd.grad((xt * yt).sum(), xt)
    assert isinstance(single_k, tuple) and len(single_k) == 1
    assert_close(single_k[0], single_t[0])
    many_k = kiln.autograd.grad(two_outputs(xk, yk), [xk, yk])
    many_t = torch.autograd.grad(two_outputs(xt, yt), [xt, yt])
    assert isinstance(many_k, tuple) and len(many_k) == 2
    for k, t in zip(many_k, many_t):
        assert_close(k, t)


def test_grad_outputs_weight_non_scalar_outputs():
    (xk,), (xt,) = inputs_for_both((2, 3))
    v = np.random.randn(2, 3)
    gk, = kiln.autograd.grad(xk.sin(), xk, grad_outputs=kiln.tensor(v))
    gt, = torch.autograd.grad(xt.sin(), xt, grad_outputs=torch.tensor(v))
    assert_close(gk, gt)
    # A list of gradients with None for the one-element output, as in PyTorch.
    gk = kiln.autograd.grad([xk.sin(), xk.sum()], [xk], [kiln.tensor(v), None])
    gt = torch.autograd.grad([xt.sin(), xt.sum()], [xt], [torch.tensor(v), None])
    assert_close(gk[0], gt[0])


def test_grad_needs_grad_outputs_for_non_scalars():
    (xk,), _ = inputs_for_both((3,))
    # PyTorch raises RuntimeError here; Kiln raises ValueError, its type for a bad argument.
    with pytest.raises(ValueError, match="only for one-element outputs"):
        kiln.autograd.grad(xk * 2, xk)


def test_grad_leaves_dot_grad_untouched():
    (xk,), _ = inputs_for_both((3,))
    kiln.autograd.grad((xk * xk).sum(), xk)
    assert xk.grad is None


def test_allow_unused():
    (xk, yk, unused_k), (xt, yt, unused_t) = inputs_for_both((3,), (3,), (2,))
    with pytest.raises(RuntimeError, match="was not used in computing the outputs"):
        kiln.autograd.grad((xk * yk).sum(), [xk, unused_k])
    with pytest.raises(RuntimeError, match="not have been used in the graph"):
        torch.autograd.grad((xt * yt).sum(), [xt, unused_t])
    gk = kiln.autograd.grad((xk * yk).sum(), [xk, unused_k], allow_unused=True)
    gt = torch.autograd.grad((xt * yt).sum(), [xt, unused_t], allow_unused=True)
    assert gk[1] is None and gt[1] is None
    assert_close(gk[0], gt[0])


def test_input_without_requires_grad_is_an_error():
    (xk,), _ = inputs_for_both((3,))
    with pytest.raises(RuntimeError, match="does not require grad"):
        kiln.autograd.grad((xk * 2).sum(), kiln.ones(3))


@pytest.mark.parametrize("lib", [kiln, torch])
def test_retain_graph(lib):
    x = lib.tensor([0.3, -0.2], dtype=lib.float64, requires_grad=True)
    y = (x.exp() * x).sum()
    first, = lib.autograd.grad(y, x, retain_graph=True)
    second, = lib.autograd.grad(y, x)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    with pytest.raises(RuntimeError, match="second time"):
        lib.autograd.grad(y, x)


def test_create_graph_gives_differentiable_gradients():
    (xk,), (xt,) = inputs_for_both((4,))
    gk, = kiln.autograd.grad((xk.sin() * xk).sum(), xk, create_graph=True)
    gt, = torch.autograd.grad((xt.sin() * xt).sum(), xt, create_graph=True)
    assert gk.requires_grad
    assert_close(gk, gt, msg="first")
    ggk, = kiln.autograd.grad(gk.sum(), xk)
    ggt, = torch.autograd.grad(gt.sum(), xt)
    assert_close(ggk, ggt, msg="second")


def test_backward_accumulates_like_torch():
    (xk, yk), (xt, yt) = inputs_for_both((3,), (3,))
    v = np.random.randn(3)
    for _ in range(2):
        kiln.autograd.backward([(xk * yk).exp(), xk.sum()], [kiln.tensor(v), None])
        torch.autograd.backward([(xt * yt).exp(), xt.sum()], [torch.tensor(v), None])
    assert_close(xk.grad, xt.grad, msg="x")
    assert_close(yk.grad, yt.grad, msg="y")
    kiln.autograd.backward((xk * yk).sum())  # a single tensor
    torch.autograd.backward((xt * yt).sum())
    assert_close(xk.grad, xt.grad, msg="x after a single-tensor backward")


def test_backward_with_inputs_fills_only_those():
    (xk, yk), (xt, yt) = inputs_for_both((3,), (3,))
    for _ in range(2):
        kiln.autograd.backward((xk * yk.exp()).sum(), inputs=[xk])
        torch.autograd.backward((xt * yt.exp()).sum(), inputs=[xt])
    assert yk.grad is None and yt.grad is None
    assert_close(xk.grad, xt.grad)
    with pytest.raises(RuntimeError, match="cannot be empty"):
        kiln.autograd.backward((xk * yk).sum(), inputs=[])


def test_backward_twice_without_retain_graph_fails():
    (xk,), _ = inputs_for_both((3,))
    y = (xk.exp()).sum()
    kiln.autograd.backward(y, retain_graph=True)
    kiln.autograd.backward(y)
    with pytest.raises(RuntimeError, match="second time"):
        kiln.autograd.backward(y)


def test_wrong_argument_types():
    (xk,), _ = inputs_for_both((3,))
    with pytest.raises(TypeError, match="not a Tensor"):
        kiln.autograd.grad([xk.sum(), 3], [xk])
    with pytest.raises(TypeError, match="expected a Tensor or a sequence"):
        kiln.autograd.backward(3.0)
    with pytest.raises(NotImplementedError, match="is_grads_batched"):
        kiln.autograd.grad(xk.sum(), xk, is_grads_batched=True)
