"""Module.to / cuda / cpu / float / double / half / bfloat16 / type (a mixin of kiln.nn.Module).

Parameters are converted in place (`param.data = ...`), so the Parameter objects an optimizer
holds stay the module's parameters; their gradients are converted too. Buffers are replaced.
"""
from ... import _C
from ..._grad_mode import no_grad
from ..._tensor import Tensor


def _parse_to(args, kwargs):
    """(device, dtype, memory_format) from Module.to's forms: to(device=None, dtype=None,
    non_blocking=False), to(dtype, non_blocking=False), to(tensor, non_blocking=False),
    to(memory_format=kiln.channels_last)."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    memory_format = kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if memory_format is not None and not isinstance(memory_format, _C.memory_format):
        raise TypeError("to() argument 'memory_format' must be kiln.memory_format, not "
                        f"{type(memory_format).__name__}")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, _C.dtype):
            dtype = arg
        elif isinstance(arg, bool):  # non_blocking, meaningless for Kiln's synchronous copies
            continue
        elif isinstance(arg, (str, _C.device)):
            device = arg
        elif isinstance(arg, int):
            device = f"cuda:{arg}"
        else:
            raise TypeError(f"to() received an invalid argument of type {type(arg).__name__}")
    if isinstance(device, int):
        device = f"cuda:{device}"
    if isinstance(device, str):
        device = _C.device(device)
    return device, dtype, memory_format


class _ConversionMixin:

    def _apply(self, fn):
        """Applies fn to every parameter (in place, keeping the Parameter objects), gradient
        and buffer of the module tree."""
        for module in self.children():
            module._apply(fn)
        for param in self._parameters.values():
            if param is None:
                continue
            with no_grad():
                param.data = fn(param)
                grad = param.grad
                if grad is not None:
                    param.grad = fn(grad)
        for key, buf in self._buffers.items():
            if buf is not None:
                self._buffers[key] = fn(buf)
        return self

    def to(self, *args, **kwargs):
        """Moves and/or casts the parameters and buffers in place and returns self. Only
        floating-point tensors change dtype; integer buffers only move."""
        device, dtype, memory_format = _parse_to(args, kwargs)
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError("nn.Module.to only accepts floating point dtypes, but got desired "
                            f"dtype={dtype}")

        def convert(t):
            # As torch: a memory format applies to the 4-D and 5-D tensors only.
            fmt = memory_format if t.dim() in (4, 5) else None
            return t.to(device, dtype if t.is_floating_point() else None, memory_format=fmt)
        return self._apply(convert)

    def cuda(self, device=None):
        return self._apply(lambda t: t.cuda(device))

    def cpu(self):
        return self._apply(lambda t: t.cpu())

    def type(self, dst_type):
        """Casts every parameter and buffer (integer ones included) to dst_type."""
        return self._apply(lambda t: t.to(dst_type))

    def _cast_floating(self, dtype):
        return self._apply(lambda t: t.to(dtype) if t.is_floating_point() else t)

    def float(self):
        return self._cast_floating(_C.float32)

    def double(self):
        return self._cast_floating(_C.float64)

    def half(self):
        return self._cast_floating(_C.float16)

    def bfloat16(self):
        return self._cast_floating(_C.bfloat16)
