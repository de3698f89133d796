"""Tensor factories with torch's signatures: kiln.zeros(2, 3), kiln.zeros((2, 3)),
kiln.arange(0, 10, 2), kiln.tensor([[1, 2], [3, 4]]), ..."""
import builtins as _builtins
import numbers as _numbers

import numpy as _np

from . import _C

__all__ = ["tensor", "as_tensor", "scalar_tensor", "empty", "zeros", "ones", "full", "arange",
           "linspace", "eye", "rand", "randn", "randint", "empty_like", "zeros_like",
           "ones_like", "full_like", "rand_like", "randn_like", "randint_like"]


def _size_args(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = []
    for s in size:
        if isinstance(s, _builtins.bool) or not hasattr(s, "__index__"):
            raise TypeError(f"size: expected a sequence of ints, got {type(s).__name__}")
        out.append(s.__index__())
    return out


_NUMPY_TO_KILN = {
    _np.dtype(_np.bool_): _C.bool, _np.dtype(_np.uint8): _C.uint8, _np.dtype(_np.int32): _C.int32,
    _np.dtype(_np.int64): _C.int64, _np.dtype(_np.float16): _C.float16,
    _np.dtype(_np.float32): _C.float32, _np.dtype(_np.float64): _C.float64,
}


def _numpy_dtype_to_kiln(np_dtype, what):
    try:
        return _NUMPY_TO_KILN[np_dtype]
    except KeyError:
        raise TypeError(f"tensor: unsupported {what} dtype {np_dtype} (supported: bool, uint8, "
                        "int32, int64, float16, float32, float64)") from None


def _leaf_dtype(item):
    """The dtype torch gives one value: its own for tensors and NumPy values, else the kind's."""
    if isinstance(item, _C.Tensor):
        return item.dtype
    if isinstance(item, (_np.ndarray, _np.generic)):
        return _numpy_dtype_to_kiln(item.dtype, "numpy")
    if isinstance(item, _builtins.bool):
        return _C.bool
    if isinstance(item, _builtins.int):
        return _C.int64
    if isinstance(item, _builtins.float):
        return _C.float32
    raise TypeError(f"tensor: could not infer the dtype of {type(item).__name__} (expected "
                    "numbers, tensors, NumPy arrays or nested sequences of them)")


def _infer_dtype(data):
    """torch.tensor's inference: the promotion of every value's dtype (float32 when empty)."""
    result = None
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, (list, tuple)):
            pending.extend(item)
            continue
        d = _leaf_dtype(item)
        result = d if result is None else _C.promote_types(result, d)
    return _C.float32 if result is None else result


def _without_tensors(data):
    """Nested data with each tensor replaced by its values, for numpy.array."""
    if isinstance(data, _C.Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_without_tensors(d) for d in data]
    return data


def _from_data(data, dtype, device, copy):
    if isinstance(data, _C.Tensor):
        t = data.detach()
        if copy:
            t = t.clone()
    elif isinstance(data, _np.ndarray):
        _numpy_dtype_to_kiln(data.dtype, "numpy")
        arr = data if data.flags.c_contiguous else _np.ascontiguousarray(data)
        t = _C.from_numpy(arr)
        if copy or arr is not data:
            t = t.clone()
    else:
        inferred = _infer_dtype(data)
        # Built in the widest NumPy type of its kind and cast once to the result dtype, so a
        # Python float is rounded once (kiln.tensor([0.1], dtype=kiln.float64) is exact).
        np_type = (_np.bool_ if inferred is _C.bool else _np.float64
                   if inferred.is_floating_point else _np.int64)
        arr = _np.array(_without_tensors(data), dtype=np_type)
        t = _C.from_numpy(arr).to(dtype if dtype is not None else inferred)
    if dtype is not None or device is not None:
        t = t.to(device=device, dtype=dtype)
    return t


def _check_options(op, dtype, device):
    """Reads dtype and device like torch, refusing anything else with a TypeError naming op."""
    if dtype is not None and not isinstance(dtype, _C.dtype) and \
            dtype not in (_builtins.bool, _builtins.int, _builtins.float):
        raise TypeError(f"{op}: dtype must be a kiln.dtype, got {type(dtype).__name__}")
    if device is None or isinstance(device, _C.device):
        return dtype, device
    if isinstance(device, str):
        return dtype, _C.device(device)
    if isinstance(device, _builtins.int) and not isinstance(device, _builtins.bool):
        return dtype, _C.device("cuda", device)
    raise TypeError(f"{op}: device must be a kiln.device, str or int, got {type(device).__name__}")


def _refuse_unsupported(op, out=None, layout=None, generator=None, memory_format=None):
    """torch options Kiln does not have: refused by name rather than silently ignored."""
    for name, value in [("out", out), ("layout", layout), ("generator", generator),
                        ("memory_format", memory_format)]:
        if value is not None:
            raise NotImplementedError(f"{op}: the {name}= argument is not supported by Kiln")


def _pinned(t, pin_memory):
    """torch's pin_memory=True: the result lives in page-locked host memory (needs a GPU)."""
    return t.pin_memory() if pin_memory else t


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    dtype, device = _check_options("tensor", dtype, device)
    t = _pinned(_from_data(data, dtype, device, copy=True), pin_memory)
    return t.requires_grad_(requires_grad) if requires_grad else t


def as_tensor(data, dtype=None, device=None):
    dtype, device = _check_options("as_tensor", dtype, device)
    return _from_data(data, dtype, device, copy=False)


def scalar_tensor(s, *, dtype=None, layout=None, device=None, requires_grad=False,
                  pin_memory=False):
    _refuse_unsupported("scalar_tensor", layout=layout)
    dtype, device = _check_options("scalar_tensor", dtype, device)
    return _pinned(_C._full([], s, dtype or _C.float32, device, requires_grad), pin_memory)


def _factory(fn, name):
    def make(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
             pin_memory=False, memory_format=None, generator=None):
        _refuse_unsupported(name, out, layout, generator, memory_format)
        dtype, device = _check_options(name, dtype, device)
        t = fn(_size_args(size), dtype, device, False)
        t = _pinned(t, pin_memory)
        return t.requires_grad_(requires_grad) if requires_grad else t
    make.__name__ = make.__qualname__ = name
    return make


empty = _factory(_C._empty, "empty")
zeros = _factory(_C._zeros, "zeros")
ones = _factory(_C._ones, "ones")
rand = _factory(_C._rand, "rand")
randn = _factory(_C._randn, "randn")


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad=False):
    """The dtype follows fill_value when not given (bool, int64 or float32), as in torch."""
    _refuse_unsupported("full", out, layout)
    dtype, device = _check_options("full", dtype, device)
    return _C._full(_size_args((size,)), fill_value, dtype, device, requires_grad)


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False):
    _refuse_unsupported("arange", out, layout)
    dtype, device = _check_options("arange", dtype, device)
    if end is None:
        start, end = 0, start
    if dtype is None:  # like torch: int64 unless an argument is a float
        numbers = (start, end, step)
        is_float = any(isinstance(v, (_builtins.float, _np.floating)) or
                       (isinstance(v, _C.Tensor) and v.is_floating_point()) for v in numbers)
        dtype = _C.float32 if is_float else _C.int64
    return _C._arange(_builtins.float(start), _builtins.float(end), _builtins.float(step), dtype,
                      device, requires_grad)


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    _refuse_unsupported("linspace", out, layout)
    dtype, device = _check_options("linspace", dtype, device)
    return _C._linspace(_builtins.float(start), _builtins.float(end), steps, dtype, device,
                        requires_grad)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    _refuse_unsupported("eye", out, layout)
    dtype, device = _check_options("eye", dtype, device)
    return _C._eye(n, m, dtype, device, requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None,
            device=None, requires_grad=False):
    _refuse_unsupported("randint", out, layout, generator)
    dtype, device = _check_options("randint", dtype, device)
    if size is None and high is not None and not isinstance(high, _numbers.Number):
        low, high, size = 0, low, high  # randint(high, size)
    elif high is None:
        low, high = 0, low  # randint(high, size=...)
    if size is None:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    return _C._randint(low, high, _size_args((size,)), dtype, device, requires_grad)


def _like(fn, name):
    def make(input, *, dtype=None, layout=None, device=None, requires_grad=False,
             memory_format=None):
        _refuse_unsupported(name, layout=layout, memory_format=memory_format)
        dtype, device = _check_options(name, dtype, device)
        return fn(list(input.shape), dtype or input.dtype, device or input.device,
                  requires_grad)
    make.__name__ = make.__qualname__ = name
    return make


empty_like = _like(_C._empty, "empty_like")
zeros_like = _like(_C._zeros, "zeros_like")
ones_like = _like(_C._ones, "ones_like")
rand_like = _like(_C._rand, "rand_like")
randn_like = _like(_C._randn, "randn_like")


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None):
    _refuse_unsupported("full_like", layout=layout, memory_format=memory_format)
    dtype, device = _check_options("full_like", dtype, device)
    return _C._full(list(input.shape), fill_value, dtype or input.dtype, device or input.device,
                    requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, layout=None, device=None,
                 requires_grad=False, memory_format=None):
    _refuse_unsupported("randint_like", layout=layout, memory_format=memory_format)
    dtype, device = _check_options("randint_like", dtype, device)
    if high is None:
        low, high = 0, low
    return _C._randint(low, high, list(input.shape), dtype or input.dtype, device or input.device,
                       requires_grad)
