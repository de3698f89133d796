"""kiln.autograd.Function against the same torch.autograd.Function run in PyTorch: outputs,
gradients (also second order), ctx features, the errors PyTorch raises, and no leaked ctx."""
import gc
import weakref

import numpy as np
import pytest
import torch

import kiln
from parity import assert_close, to_kiln, to_torch


def exp_function(lib):
    class MyExp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)  # an output: kept without a reference cycle
            return y

        @staticmethod
        def backward(ctx, grad):
            y, = ctx.saved_tensors
            return grad * y

    return MyExp


def linear_function(lib):
    """PyTorch's documentation example: saved inputs, an optional bias, needs_input_grad."""

    class LinearFunction(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input, weight, bias=None):
            ctx.save_for_backward(input, weight, bias)
            output = input.mm(weight.t())
            if bias is not None:
                output = output + bias.unsqueeze(0).expand_as(output)
            return output

        @staticmethod
        def backward(ctx, grad_output):
            input, weight, bias = ctx.saved_tensors
            grad_input = grad_weight = grad_bias = None
            if ctx.needs_input_grad[0]:
                grad_input = grad_output.mm(weight)
            if ctx.needs_input_grad[1]:
                grad_weight = grad_output.t().mm(input)
            if bias is not None and ctx.needs_input_grad[2]:
                grad_bias = grad_output.sum(0)
            return grad_input, grad_weight, grad_bias

    return LinearFunction


def scale_function(lib):
    """A non-tensor argument passes through; its gradient is None."""

    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, factor, label):
            ctx.factor = factor
            ctx.label = label
            return x * factor

        @staticmethod
        def backward(ctx, grad):
            assert ctx.label == "scale"
            return grad * ctx.factor, None, None

    return Scale


def square_function(lib):
    """backward uses a saved input, so it is differentiable again (double backward)."""

    class Square(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return 2 * x * grad

    return Square


def pair(shape, dtype=np.float64, requires_grad=True):
    a = np.random.randn(*shape).astype(dtype)
    return (kiln.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_outputs_and_gradients_match_torch(dtype):
    xk, xt = pair((2, 3), dtype)
    yk, yt = exp_function(kiln).apply(xk), exp_function(torch).apply(xt)
    assert_close(yk, yt, msg="forward")
    assert yk.grad_fn.name() == "MyExpBackward" == type(yt.grad_fn).__name__
    assert [n.name() for n, _ in yk.grad_fn.next_functions] == ["AccumulateGrad"]
    w = np.random.randn(2, 3).astype(dtype)
    yk.backward(kiln.tensor(w))
    yt.backward(torch.tensor(w))
    assert_close(xk.grad, xt.grad, msg="grad")


@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_with_saved_inputs_matches_torch(with_bias):
    xk, xt = pair((4, 3))
    wk, wt = pair((5, 3))
    bk, bt = pair((5,)) if with_bias else (None, None)
    yk = linear_function(kiln).apply(xk, wk, bk)
    yt = linear_function(torch).apply(xt, wt, bt)
    assert_close(yk, yt, msg="forward")
    (yk * yk).sum().backward()
    (yt * yt).sum().backward()
    assert_close(xk.grad, xt.grad, msg="grad input")
    assert_close(wk.grad, wt.grad, msg="grad weight")
    if with_bias:
        assert_close(bk.grad, bt.grad, msg="grad bias")


def test_non_tensor_arguments_pass_through():
    xk, xt = pair((3,))
    yk = scale_function(kiln).apply(xk, 2.5, "scale")
    yt = scale_function(torch).apply(xt, 2.5, "scale")
    assert_close(yk, yt)
    yk.sum().backward()
    yt.sum().backward()
    assert_close(xk.grad, xt.grad)


def test_keyword_arguments_bind_to_forward_parameters():
    xk, _ = pair((3,))
    y = scale_function(kiln).apply(xk, label="scale", factor=3.0)
    y.sum().backward()
    np.testing.assert_allclose(xk.grad.numpy(), np.full(3, 3.0))


def needs_input_grad_recorder(lib, seen):
    class Record(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen.append(tuple(ctx.needs_input_grad))
            return a * b * k

        @staticmethod
        def backward(ctx, grad):
            return None, None, None

    return Record


def test_needs_input_grad_matches_torch():
    seen_k, seen_t = [], []
    ak, at = pair((2,))
    bk, bt = pair((2,), requires_grad=False)
    needs_input_grad_recorder(kiln, seen_k).apply(ak, bk, 2)
    needs_input_grad_recorder(torch, seen_t).apply(at, bt, 2)
    with kiln.no_grad():
        needs_input_grad_recorder(kiln, seen_k).apply(ak, bk, 2)
    with torch.no_grad():
        needs_input_grad_recorder(torch, seen_t).apply(at, bt, 2)
    # PyTorch reports requires_grad even under no_grad.
    assert seen_k == seen_t == [(True, False, False), (True, False, False)]


def test_forward_runs_without_grad_and_no_grad_apply_records_nothing():
    class Probe(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.grad_mode = kiln.is_grad_enabled()
            ctx.inner = (x * 2).requires_grad
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    x, _ = pair((2,))
    y = Probe.apply(x)
    assert y.requires_grad and y.grad_fn.name() == "ProbeBackward"
    with kiln.no_grad():
        z = Probe.apply(x)
    assert not z.requires_grad and z.grad_fn is None


def sort_like_function(lib, received):
    """Two float outputs, the second marked non-differentiable, plus an integer output."""

    class Split(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            doubled, tripled = x * 2, x * 3
            index = (x > 0).long()
            ctx.mark_non_differentiable(tripled)
            return doubled, tripled, index

        @staticmethod
        def backward(ctx, g_doubled, g_tripled, g_index):
            received.extend([g_tripled, g_index])
            return g_doubled * 2

    return Split


def test_mark_non_differentiable_and_integer_outputs_match_torch():
    got_k, got_t = [], []
    xk, xt = pair((3,))
    dk, tk, ik = sort_like_function(kiln, got_k).apply(xk)
    dt, tt, it = sort_like_function(torch, got_t).apply(xt)
    assert (dk.requires_grad, tk.requires_grad, ik.requires_grad) == \
        (dt.requires_grad, tt.requires_grad, it.requires_grad) == (True, False, False)
    assert tk.grad_fn is None and ik.grad_fn is None
    dk.sum().backward()
    dt.sum().backward()
    assert_close(xk.grad, xt.grad)
    for k, t in zip(got_k, got_t):  # both materialize zeros for outputs without gradient
        assert_close(k, t)


def test_non_tensor_output_gets_none_gradient():
    received = []

    class WithCount(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, 7

        @staticmethod
        def backward(ctx, grad, grad_count):
            received.append(grad_count)
            return grad * 2

    x, _ = pair((2,))
    y, count = WithCount.apply(x)
    assert count == 7
    y.sum().backward()
    assert received == [None]
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_returning_an_input_gives_a_new_tensor_with_history():
    class Identity(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    x, _ = pair((2,))
    y = Identity.apply(x)
    assert y is not x and x.is_leaf and x.grad_fn is None
    assert y.grad_fn.name() == "IdentityBackward"
    np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy())
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


@pytest.mark.parametrize("make", [square_function, exp_function])
def test_double_backward_matches_torch(make):
    xk, xt = pair((3,))
    gk, = kiln.autograd.grad(make(kiln).apply(xk).sum(), xk, create_graph=True)
    gt, = torch.autograd.grad(make(torch).apply(xt).sum(), xt, create_graph=True)
    assert_close(gk, gt, msg="first order")
    ggk, = kiln.autograd.grad((gk * gk).sum(), xk)
    ggt, = torch.autograd.grad((gt * gt).sum(), xt)
    assert_close(ggk, ggt, msg="second order")


def bad_count_function(lib):
    class TooMany(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    return TooMany


def test_wrong_gradient_count_raises_like_torch():
    xk, xt = pair((2,))
    with pytest.raises(RuntimeError, match="TooManyBackward returned an incorrect number of "
                                           r"gradients \(expected 1, got 2\)"):
        bad_count_function(kiln).apply(xk).sum().backward()
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        bad_count_function(torch).apply(xt).sum().backward()


def test_extra_none_gradients_are_accepted_like_torch():
    class TrailingNone(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2, None, None

    x, _ = pair((2,))
    TrailingNone.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_wrong_gradient_shape_names_the_function():
    class WrongShape(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad.sum(0)

    x, _ = pair((2, 3))
    with pytest.raises(RuntimeError, match=r"WrongShapeBackward returned a gradient of shape "
                                           r"\[3\] for an input of shape \[2, 3\]"):
        WrongShape.apply(x).sum().backward()


def test_non_tensor_gradient_and_gradient_for_non_tensor_input_raise():
    class NumberGrad(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return 3

    class GradForConstant(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    x, _ = pair((2,))
    with pytest.raises(TypeError, match="NumberGradBackward returned a int"):
        NumberGrad.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="GradForConstantBackward returned a gradient "
                                           "different than None at position 2"):
        GradForConstant.apply(x, 2.0).sum().backward()


def test_exception_in_backward_propagates_with_its_type():
    class Failing(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            raise KeyError("no gradient today")

    x, _ = pair((2,))
    with pytest.raises(KeyError, match="no gradient today"):
        Failing.apply(x).sum().backward()


@pytest.mark.parametrize("lib", [kiln, torch])
def test_saved_input_modified_in_place_raises(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    w = x * 1  # a non-leaf, which may be modified in place
    y = square_function(lib).apply(w)
    w.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation|modified by an "
                                           "in-place operation"):
        y.sum().backward()


def test_saved_output_modified_in_place_raises():
    x, _ = pair((2,))
    y = exp_function(kiln).apply(x)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="output 0 of MyExpBackward .* is at version 1; "
                                           "expected version 0"):
        y.sum().backward()


@pytest.mark.parametrize("lib", [kiln, torch])
def test_backward_twice_needs_retain_graph(lib):
    x = lib.tensor([0.5, -1.0], requires_grad=True)
    y = exp_function(lib).apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), 2 * np.exp([0.5, -1.0]), rtol=1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_ctx_api_errors():
    class SavesNumber(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3)
            return x

    class Dirty(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x

    x, _ = pair((2,))
    with pytest.raises(TypeError, match="argument 1 is of type int"):
        SavesNumber.apply(x)
    with pytest.raises(NotImplementedError, match="mark_dirty"):
        Dirty.apply(x)
    with pytest.raises(RuntimeError, match="apply"):
        exp_function(kiln)()


def test_ctx_is_freed_with_the_graph():
    """The node owns ctx, ctx does not own the node or the saved outputs: no cycle leaks."""
    ctxs = []

    class Tracked(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(x, y)
            ctxs.append(weakref.ref(ctx))
            return y

        @staticmethod
        def backward(ctx, grad):
            x, y = ctx.saved_tensors
            return grad * y

    x, _ = pair((3,))
    y = Tracked.apply(x)
    del y
    gc.collect()
    assert ctxs[0]() is None, "ctx outlived its outputs"

    y = Tracked.apply(x)
    y.sum().backward()
    gc.collect()
    assert ctxs[1]() is None, "ctx outlived a backward without retain_graph"

    y = Tracked.apply(x)
    y.sum().backward(retain_graph=True)
    gc.collect()
    assert ctxs[2]() is not None, "retain_graph must keep ctx for a second backward"
    del y
    gc.collect()
    assert ctxs[2]() is None


def test_function_inside_a_larger_graph_matches_torch():
    xk, xt = pair((2, 3))
    wk, wt = pair((4, 3))

    def run(lib, x, w):
        h = linear_function(lib).apply(x.tanh(), w)
        return square_function(lib).apply(exp_function(lib).apply(h * 0.1)).mean()

    run(kiln, xk, wk).backward()
    run(torch, xt, wt).backward()
    assert_close(xk.grad, xt.grad, msg="x")
    assert_close(wk.grad, wt.grad, msg="w")


def test_to_kiln_roundtrip_helpers_keep_values():
    # Guards the helpers these tests rely on to build equal inputs.
    t = torch.randn(3, dtype=torch.float64)
    assert_close(to_kiln(t), to_torch(to_kiln(t)))
