"""kiln.autograd.functional: derivatives of a whole function, with torch.autograd.functional's
signatures and return conventions (a tuple where the inputs, or outputs, were given as a tuple;
a single tensor otherwise).

Everything is built on kiln.autograd.grad, following PyTorch 1.13:
  vjp       vᵀ J by one reverse pass.
  jvp       J v by the double-vjp trick (u ↦ Jᵀu is linear; differentiating <Jᵀu, v> with respect
            to u gives J v), as PyTorch does; it needs the backward of every op to be
            differentiable, which Kiln's are.
  vhp, hvp  vᵀ H by differentiating the gradient once more. hvp returns the same vᵀ H: the Hessian
            of a twice continuously differentiable function is symmetric, so H v = vᵀ H (PyTorch
            computes H v with one more differentiation; the values agree to rounding).
  jacobian  one reverse pass per output element ("reverse-mode"), or one jvp per input element
            ("forward-mode"); vectorize=True computes the same values the same way (Kiln has no
            vmap).
  hessian   the jacobian of the jacobian.
"""
from .. import _C
from .._grad_mode import enable_grad, is_grad_enabled, set_grad_enabled
from ._reverse import grad as _grad

__all__ = ["vjp", "jvp", "vhp", "hvp", "jacobian", "hessian"]


def _as_tuple(inp, arg_name, fn_name):
    """(was it a tuple, the tensors as a tuple); anything but tensors is a TypeError."""
    is_tuple = isinstance(inp, tuple)
    items = inp if is_tuple else (inp,)
    for i, el in enumerate(items):
        if not isinstance(el, _C.Tensor):
            where = f"Entry {i} in " if is_tuple else "The "
            raise TypeError(f"{where}{arg_name} given to {fn_name} must be a Tensor (or a tuple "
                            f"of Tensors) but got {type(el).__name__}.")
    return is_tuple, items


def _tuple_postprocess(res, to_unpack):
    """Undoes _as_tuple: unpacks one level per False flag (two levels for jacobian/hessian)."""
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            res = tuple(el[0] for el in res)
        if not to_unpack[0]:
            res = res[0]
    elif not to_unpack:
        res = res[0]
    return res


def _grad_preprocess(inputs, create_graph, need_graph):
    """Inputs the function is differentiated at: fresh leaves, or (create_graph) differentiable
    aliases, so that the result stays connected to the caller's graph."""
    res = []
    for inp in inputs:
        if create_graph and inp.requires_grad:
            res.append(inp.view_as(inp))
        else:
            res.append(inp.detach().requires_grad_(need_graph))
    return tuple(res)


def _grad_postprocess(inputs, create_graph):
    if isinstance(inputs[0], _C.Tensor):
        return inputs if create_graph else tuple(inp.detach() for inp in inputs)
    return tuple(_grad_postprocess(inp, create_graph) for inp in inputs)


def _validate_v(v, other, is_other_tuple):
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got "
                               f"{len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for idx, (el_v, el_other) in enumerate(zip(v, other)):
        if tuple(el_v.shape) != tuple(el_other.shape):
            prepend = f"Entry {idx} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be "
                               f"{tuple(el_other.shape)} but got {tuple(el_v.shape)}.")


def _check_requires_grad(inputs, input_type, strict):
    if not strict:
        return
    if input_type not in ("outputs", "grad_inputs", "jacobian", "hessian"):
        raise RuntimeError("Invalid input_type to _check_requires_grad")
    for i, inp in enumerate(inputs):
        if inp is None:
            raise RuntimeError(f"The output of the user-provided function is independent of "
                               f"input {i}. This is not allowed in strict mode.")
        if not inp.requires_grad:
            if input_type == "hessian":
                raise RuntimeError(f"The hessian of the user-provided function with respect to "
                                   f"input {i} is independent of the input. This is not allowed "
                                   f"in strict mode. You should ensure that your function is "
                                   f"thrice differentiable and that the hessian depends on the "
                                   f"inputs.")
            if input_type == "jacobian":
                raise RuntimeError(f"While computing the hessian, found that the jacobian of "
                                   f"the user-provided function with respect to input {i} is "
                                   f"independent of the input. This is not allowed in strict "
                                   f"mode. You should ensure that your function is twice "
                                   f"differentiable and that the jacobian depends on the "
                                   f"inputs (this would be violated by a linear function for "
                                   f"example).")
            if input_type == "grad_inputs":
                raise RuntimeError(f"The gradient with respect to input {i} is independent of "
                                   f"the inputs of the user-provided function. This is not "
                                   f"allowed in strict mode.")
            raise RuntimeError(f"Output {i} of the user-provided function does not require "
                               f"gradients. The outputs must be computed in a differentiable "
                               f"manner from the input when running in strict mode.")


def _autograd_grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """grad() over the outputs that require grad only (None for every input when none does)."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    new_outputs, new_grad_outputs = [], []
    for out, grad_out in zip(outputs, grad_outputs):
        if out is not None and out.requires_grad:
            new_outputs.append(out)
            new_grad_outputs.append(grad_out)
    if not new_outputs:
        return (None,) * len(inputs)
    return _grad(new_outputs, inputs, new_grad_outputs, allow_unused=True,
                 create_graph=create_graph, retain_graph=retain_graph)


def _fill_in_zeros(grads, refs, strict, create_graph, stage):
    res = []
    for i, grads_i in enumerate(grads):
        if grads_i is None:
            if strict:
                if stage == "back":
                    raise RuntimeError(f"The output of the user-provided function is independent "
                                       f"of input {i}. This is not allowed in strict mode.")
                if stage == "back_trick":
                    raise RuntimeError(f"The gradient with respect to the input is independent "
                                       f"of entry {i} in the grad_outputs when using the double "
                                       f"backward trick to compute forward mode gradients. This "
                                       f"is not allowed in strict mode.")
                raise RuntimeError(f"The jacobian of the user-provided function is independent "
                                   f"of input {i}. This is not allowed in strict mode.")
            grads_i = refs[i].new_zeros(refs[i].shape)
        elif strict and create_graph and not grads_i.requires_grad:
            raise RuntimeError(f"The jacobian of the user-provided function is independent of "
                               f"input {i}. This is not allowed in strict mode when "
                               f"create_graph=True.")
        res.append(grads_i)
    return tuple(res)


def _zeros_requiring_grad(like):
    return tuple(t.new_zeros(t.shape).requires_grad_(True) for t in like)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), vᵀ·J): the vector-Jacobian product at `inputs`."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              "vjp")
        _check_requires_grad(outputs, "outputs", strict=strict)
        if v is not None:
            _, v = _as_tuple(v, "v", "vjp")
            v = _grad_preprocess(v, create_graph=create_graph, need_graph=False)
            _validate_v(v, outputs, is_outputs_tuple)
        elif len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the user-provided function "
                               "returns a single Tensor with a single element.")
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(outputs, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, inputs, strict, create_graph, "back")
    outputs = _grad_postprocess(outputs, create_graph)
    result = _grad_postprocess(result, create_graph)
    return (_tuple_postprocess(outputs, is_outputs_tuple),
            _tuple_postprocess(result, is_inputs_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J·v): the Jacobian-vector product at `inputs`."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        if v is not None:
            _, v = _as_tuple(v, "v", "jvp")
            v = _grad_preprocess(v, create_graph=create_graph, need_graph=False)
            _validate_v(v, inputs, is_inputs_tuple)
        elif len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the input to the user-provided "
                               "function is a single Tensor with a single element.")
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              "jvp")
        _check_requires_grad(outputs, "outputs", strict=strict)
        # The backward is linear in grad_outputs, so their value (zero) does not matter.
        grad_outputs = _zeros_requiring_grad(outputs)
        grad_inputs = _autograd_grad(outputs, inputs, grad_outputs, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict=strict)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(grad_inputs, grad_outputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, outputs, strict, create_graph, "back_trick")
    outputs = _grad_postprocess(outputs, create_graph)
    result = _grad_postprocess(result, create_graph)
    return (_tuple_postprocess(outputs, is_outputs_tuple),
            _tuple_postprocess(result, is_outputs_tuple))


def _scalar_function_gradient(func, inputs, v, create_graph, strict, fn_name):
    """Shared by vhp and hvp: inputs, v and output prepared, and the gradient with history."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        if v is not None:
            _, v = _as_tuple(v, "v", fn_name)
            v = _grad_preprocess(v, create_graph=create_graph, need_graph=False)
            _validate_v(v, inputs, is_inputs_tuple)
        elif len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the input to the user-provided "
                               "function is a single Tensor with a single element.")
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              fn_name)
        _check_requires_grad(outputs, "outputs", strict=strict)
        if is_outputs_tuple or not isinstance(outputs[0], _C.Tensor):
            raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
        if outputs[0].numel() != 1:
            raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should "
                               f"contain a single element")
        jac = _autograd_grad(outputs, inputs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict=strict)
    return is_inputs_tuple, inputs, v, outputs, jac


def _second_order(func, inputs, v, create_graph, strict, fn_name, fill_stage):
    """(func(inputs), vᵀ·H): the gradient of the gradient, weighted by v."""
    is_inputs_tuple, inputs, v, outputs, jac = _scalar_function_gradient(
        func, inputs, v, create_graph, strict, fn_name)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(jac, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, inputs, strict, create_graph, fill_stage)
    outputs = _grad_postprocess(outputs, create_graph)
    result = _grad_postprocess(result, create_graph)
    return _tuple_postprocess(outputs, False), _tuple_postprocess(result, is_inputs_tuple)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), vᵀ·H) for a function returning one element."""
    return _second_order(func, inputs, v, create_graph, strict, "vhp", "double_back")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H·v) for a function returning one element; equal to vhp because the
    Hessian is symmetric (see the module docstring)."""
    return _second_order(func, inputs, v, create_graph, strict, "hvp", "double_back_trick")


def _jacobian_reverse(outputs, inputs, create_graph, strict):
    """Row by row: output element j's gradient with respect to every input."""
    jacobian = ()
    for out in outputs:
        rows = tuple([] for _ in inputs)
        flat = out.reshape(-1)
        for j in range(out.numel()):
            vj = _autograd_grad((flat.select(0, j),), inputs, retain_graph=True,
                                create_graph=create_graph)
            for el_idx, (rows_el, vj_el, inp_el) in enumerate(zip(rows, vj, inputs)):
                if vj_el is not None:
                    if strict and create_graph and not vj_el.requires_grad:
                        raise RuntimeError(f"The jacobian of the user-provided function is "
                                           f"independent of input {el_idx}. This is not allowed "
                                           "in strict mode when create_graph=True.")
                    rows_el.append(vj_el)
                else:
                    if strict:
                        raise RuntimeError(f"Output {len(jacobian)} of the user-provided "
                                           f"function is independent of input {el_idx}. This "
                                           f"is not allowed in strict mode.")
                    rows_el.append(inp_el.new_zeros(inp_el.shape))
        jacobian += (tuple(_stack_rows(rows_el, out.shape, inputs[el_idx].shape, inputs[el_idx])
                           for el_idx, rows_el in enumerate(rows)),)
    return jacobian


def _stack_rows(rows, out_shape, in_shape, like):
    from .. import stack
    shape = tuple(out_shape) + tuple(in_shape)
    if not rows:
        return like.new_zeros(shape)
    return stack(rows, 0).reshape(shape)


def _jacobian_forward(func, inputs, outputs, create_graph, strict):
    """Column by column: J·e_k for every element k of every input (jvp per basis vector)."""
    from .. import eye, stack
    columns = [[[] for _ in inputs] for _ in outputs]
    for i, inp in enumerate(inputs):
        basis = eye(inp.numel(), dtype=inp.dtype)
        for k in range(inp.numel()):
            tangents = tuple(basis.select(0, k).reshape(t.shape) if n == i
                             else t.new_zeros(t.shape) for n, t in enumerate(inputs))
            _, jv = jvp(func, inputs, tangents, create_graph=create_graph, strict=strict)
            jv = jv if isinstance(jv, tuple) else (jv,)
            for o, col in enumerate(jv):
                columns[o][i].append(col.reshape(-1))
    jacobian = ()
    for o, out in enumerate(outputs):
        per_input = []
        for i, inp in enumerate(inputs):
            shape = tuple(out.shape) + tuple(inp.shape)
            cols = columns[o][i]
            per_input.append(stack(cols, 1).reshape(shape) if cols and out.numel()
                             else inp.new_zeros(shape))
        jacobian += (tuple(per_input),)
    return jacobian


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """d func(inputs)/d inputs: Tensor, tuple, or tuple of tuples (outputs × inputs) following
    whether func's outputs and the inputs are tuples; block (i, j) has shape
    outputs[i].shape + inputs[j].shape."""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: '
                         'If your function has more outputs than inputs, "forward-mode" tends to '
                         'be more performant. Otherwise, prefer to use "reverse-mode".')
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError("jacobian: `create_graph=True` "
                                      'and `strategy="forward-mode"` are not supported together '
                                      "(yet). Please either set `create_graph=False` or "
                                      '`strategy="reverse-mode"`.')
        if not vectorize:
            raise ValueError("jacobian: `strategy=\"forward-mode\"` "
                             "requires `vectorize=True`.")
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              "jacobian")
        _check_requires_grad(outputs, "outputs", strict=strict)
        if strategy == "forward-mode":
            result = _jacobian_forward(func, tuple(i.detach() for i in inputs), outputs,
                                       create_graph, strict)
        else:
            result = _jacobian_reverse(outputs, inputs, create_graph, strict)
        result = _grad_postprocess(result, create_graph)
        return _tuple_postprocess(result, (is_outputs_tuple, is_inputs_tuple))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a function returning one element: Tensor, or a tuple of tuples for a
    tuple of inputs, block (i, j) of shape inputs[i].shape + inputs[j].shape."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def ensure_single_output_function(*inp):
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(t_out, "outputs", strict=strict)
        if is_out_tuple or not isinstance(out, _C.Tensor):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should "
                               "contain a single element")
        return out.squeeze()

    def jac_func(*inp):
        jac = jacobian(ensure_single_output_function, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict=strict)
        return jac

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict,
                   vectorize=vectorize, strategy=outer_jacobian_strategy)
    return _tuple_postprocess(res, (is_inputs_tuple, is_inputs_tuple))
