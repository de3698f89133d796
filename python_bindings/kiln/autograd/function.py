"""kiln.autograd.Function: custom differentiable operations written in Python, like torch's.

    class Exp(kiln.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            y, = ctx.saved_tensors
            return grad * y

    y = Exp.apply(x)

forward runs with grad disabled; its tensor outputs are then attached to one graph node named
"ExpBackward" (kiln._C._record_function), whose backward calls `backward` here with one gradient
per forward output and expects one gradient (or None) per forward argument. A backward written
with kiln ops is itself differentiable (create_graph=True gives double backward).

Differences from PyTorch 1.13: keyword arguments of apply are bound to forward's parameters
(PyTorch >= 2.0 does the same; 1.13 refuses them); mark_dirty (in-place Functions) and forward-mode
jvp are not supported; gradients reaching backward are always materialized (zeros for outputs that
got none, which is what set_materialize_grads(True) gives and what a backward written for None
also handles).
"""
import functools
import inspect

from .. import _C
from .._grad_mode import no_grad

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """The `ctx` passed to forward and backward: saves tensors for backward and holds any
    attribute forward sets on it."""

    def __init__(self):
        self.to_save = ()
        self.non_differentiable = ()
        self.materialize_grads = True
        self.needs_input_grad = ()
        self._saved = None  # kiln._C._SavedTensors once the outputs are attached to the graph

    def save_for_backward(self, *tensors):
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, _C.Tensor):
                raise TypeError(f"save_for_backward can only save tensors (or None), but "
                                f"argument {i} is of type {type(t).__name__}")
        self.to_save = tensors

    @property
    def saved_tensors(self):
        """The tensors given to save_for_backward, each checked against in-place modification
        since forward (a modified one raises RuntimeError)."""
        if self._saved is None:
            return tuple(self.to_save)
        return tuple(self._saved.unpack())

    def mark_non_differentiable(self, *tensors):
        for i, t in enumerate(tensors):
            if not isinstance(t, _C.Tensor):
                raise TypeError(f"mark_non_differentiable only accepts tensors, but argument {i} "
                                f"is of type {type(t).__name__}")
        self.non_differentiable = tensors

    def set_materialize_grads(self, value):
        # Kiln's engine always passes zeros for outputs that received no gradient; a backward
        # written for None handles those too, with the same result.
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors):
        raise NotImplementedError(
            "mark_dirty: Kiln's custom Functions cannot modify their inputs in place; return a "
            "new tensor instead")

    def save_for_forward(self, *tensors):
        raise NotImplementedError("save_for_forward: Kiln has no forward-mode AD for custom "
                                  "Functions (kiln.autograd.functional.jvp uses reverse mode)")


class Function:
    """Base class of custom autograd operations: subclass it with static forward(ctx, *args)
    and backward(ctx, *grad_outputs), then call Subclass.apply(*args)."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(
            f"{type(self).__name__}: autograd Functions are not instantiated; call "
            f"{type(self).__name__}.apply(...) with static forward and backward methods")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement the backward function for custom "
                                  "autograd.Function to use it with backward mode AD.")

    @staticmethod
    def jvp(ctx, *grad_inputs):
        raise NotImplementedError("Kiln has no forward-mode AD for custom Functions")

    @classmethod
    def apply(cls, *args, **kwargs):
        args, kwargs = _bind_to_forward(cls, args, kwargs)
        ctx = FunctionCtx()
        # As in PyTorch, from requires_grad alone (also under no_grad).
        ctx.needs_input_grad = tuple(isinstance(a, _C.Tensor) and a.requires_grad for a in args)
        with no_grad():
            raw = cls.forward(ctx, *args, **kwargs)
        is_tuple = isinstance(raw, tuple)
        outputs = raw if is_tuple else (raw,)
        return _attach(cls, ctx, args, outputs, is_tuple)


def _bind_to_forward(cls, args, kwargs):
    """Keyword arguments become positional ones (each gets its gradient slot), defaults filled;
    what lands in forward's own **kwargs passes through without gradients."""
    if not kwargs:
        return args, kwargs
    try:
        bound = inspect.signature(cls.forward).bind(None, *args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{cls.__name__}.apply: {e}") from None
    bound.apply_defaults()
    extra = dict(bound.kwargs)
    for name, value in extra.items():
        if isinstance(value, _C.Tensor) and value.requires_grad:
            raise ValueError(f"{cls.__name__}.apply: tensor argument '{name}' would reach "
                             f"forward's **kwargs, where it can receive no gradient; make it a "
                             f"named parameter of forward")
    return bound.args[1:], extra


def _attach(cls, ctx, args, outputs, is_tuple):
    """Records the graph node for `outputs` and returns them (a tuple when forward returned
    one). Non-tensor outputs pass through; backward receives None for them."""
    tensor_positions = [i for i, o in enumerate(outputs) if isinstance(o, _C.Tensor)]
    tensors = [outputs[i] for i in tensor_positions]
    marked = ctx.non_differentiable
    non_diff = [any(t is m for m in marked) for t in tensors]
    inputs = [a if isinstance(a, _C.Tensor) else None for a in args]
    run_backward = functools.partial(_run_backward, cls, ctx, len(outputs), tensor_positions,
                                     tuple(i is not None for i in inputs))
    fresh, saved = _C._record_function(cls.__name__ + "Backward", run_backward, inputs, tensors,
                                       list(ctx.to_save), non_diff)
    if saved is not None:
        # The graph now holds what was saved; ctx must not keep the outputs, which would make a
        # cycle (output -> node -> ctx -> output) through C++ that no collector can break.
        ctx._saved = saved
        ctx.to_save = ()
        ctx.non_differentiable = ()
    result = list(outputs)
    for pos, replacement in zip(tensor_positions, fresh):
        if replacement is not None:
            result[pos] = replacement
    return tuple(result) if is_tuple else result[0]


def _run_backward(cls, ctx, n_outputs, tensor_positions, input_is_tensor, tensor_grads):
    """Called by the graph node with one gradient per tensor output; returns one gradient or
    None per forward argument, checked like PyTorch checks them."""
    name = cls.__name__ + "Backward"
    grads = [None] * n_outputs
    for pos, g in zip(tensor_positions, tensor_grads):
        grads[pos] = g
    result = cls.backward(ctx, *grads)
    if not isinstance(result, tuple):
        result = (result,)
    n = len(input_is_tensor)
    if len(result) > n and all(g is None for g in result[n:]):
        result = result[:n]  # PyTorch accepts trailing Nones
    if len(result) != n:
        raise RuntimeError(f"function {name} returned an incorrect number of gradients "
                           f"(expected {n}, got {len(result)})")
    for i, (g, is_tensor) in enumerate(zip(result, input_is_tensor)):
        if g is None:
            continue
        if not isinstance(g, _C.Tensor):
            raise TypeError(f"function {name} returned a {type(g).__name__} as gradient {i}; "
                            f"expected a Tensor or None")
        if not is_tensor:
            raise RuntimeError(f"function {name} returned a gradient different than None at "
                               f"position {i + 1}, but the corresponding forward input was not "
                               f"a Tensor")
    return list(result)
