"""Reverse-mode entry points with torch's signatures: kiln.autograd.backward and
kiln.autograd.grad. `tensors`, `inputs` and the gradients may each be one tensor or a sequence,
as in PyTorch; the graph is walked by the C++ engine on the calling thread."""
from .. import _C


def _as_tensor_tuple(obj, what):
    if isinstance(obj, _C.Tensor):
        return (obj,)
    if obj is None:
        return None
    try:
        items = tuple(obj)
    except TypeError:
        raise TypeError(f"{what}: expected a Tensor or a sequence of Tensors, got "
                        f"{type(obj).__name__}") from None
    for i, t in enumerate(items):
        if t is not None and not isinstance(t, _C.Tensor):
            raise TypeError(f"{what}: element {i} is a {type(t).__name__}, not a Tensor")
    return items


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             grad_variables=None, inputs=None):
    """Accumulates d(tensors)/d(leaf) weighted by grad_tensors into each leaf's .grad (or, with
    `inputs`, into the .grad of those tensors only)."""
    if grad_variables is not None:
        if grad_tensors is not None:
            raise ValueError("backward: pass grad_tensors or the deprecated grad_variables, "
                             "not both")
        grad_tensors = grad_variables
    tensors = _as_tensor_tuple(tensors, "backward")
    grad_tensors = _as_tensor_tuple(grad_tensors, "backward (grad_tensors)")
    if inputs is None:
        _C._backward(list(tensors), None if grad_tensors is None else list(grad_tensors),
                     retain_graph, create_graph)
        return
    inputs = _as_tensor_tuple(inputs, "backward (inputs)")
    if not inputs:
        raise RuntimeError("backward: the inputs argument cannot be empty")
    # Gradients for the chosen tensors only, accumulated as the engine accumulates into leaves.
    grads = grad(tensors, inputs, grad_tensors, retain_graph=retain_graph,
                 create_graph=create_graph, allow_unused=True)
    for t, g in zip(inputs, grads):
        if g is None:
            continue
        if t.grad is None:
            t.grad = g if create_graph else g.detach()
        elif create_graph:
            t.grad = t.grad + g
        else:
            t.grad.add_(g)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=False, is_grads_batched=False):
    """d(outputs)/d(inputs) weighted by grad_outputs, as a tuple with one entry per input (None
    for an unused input when allow_unused). Leaves' .grad are left untouched."""
    if is_grads_batched:
        raise NotImplementedError("grad: is_grads_batched (vmap over grad_outputs) is not "
                                  "supported by Kiln; loop over the batch instead")
    outputs = _as_tensor_tuple(outputs, "grad (outputs)")
    inputs = _as_tensor_tuple(inputs, "grad (inputs)")
    grad_outputs = _as_tensor_tuple(grad_outputs, "grad (grad_outputs)")
    return _C._grad(list(outputs), list(inputs),
                    None if grad_outputs is None else list(grad_outputs), retain_graph,
                    create_graph, allow_unused)
