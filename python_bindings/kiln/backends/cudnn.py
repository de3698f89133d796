"""kiln.backends.cudnn: cuDNN's switches, as torch.backends.cudnn.

    kiln.backends.cudnn.benchmark = True       # time the algorithms of each new convolution
    kiln.backends.cudnn.deterministic = True   # only algorithms with bit-identical results
    kiln.backends.cudnn.allow_tf32 = False     # float32 convolutions without TF32
    kiln.backends.cudnn.enabled = False        # batch norm on Kiln's kernels; no convolution
    with kiln.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True): ...

The attributes are live settings shared with C++ (kiln::cuda::set_cudnn_benchmark, ...); they
exist without a GPU too, where they have nothing to act on. Defaults are torch's: enabled,
allow_tf32 on; benchmark, deterministic off.
"""
import contextlib
import sys
import types

from .. import _C

__all__ = ["version", "is_available", "is_acceptable", "flags", "enabled", "benchmark",
           "deterministic", "allow_tf32"]


def version():
    """cuDNN's version as an int (e.g. 91900 for 9.19.0), or None without the CUDA backend."""
    return _C._cudnn_version()


def is_available():
    """Whether cuDNN can run: this build has it and a GPU is present."""
    return _C._cudnn_is_available()


def is_acceptable(tensor):
    """Whether cuDNN would take this tensor (a floating tensor on a GPU, cuDNN enabled)."""
    return (bool(_C._cudnn_enabled()) and tensor.is_cuda and tensor.is_floating_point()
            and is_available())


def _switch(getter, setter, name):
    def fget(self):
        return getter()

    def fset(self, value):
        if not isinstance(value, bool):
            raise TypeError(f"kiln.backends.cudnn.{name} expects a bool, got "
                            f"{type(value).__name__}")
        setter(value)
    return property(fget, fset, doc=f"torch.backends.cudnn.{name}")


class _CudnnModule(types.ModuleType):
    """The module's class: its switches are properties reading and writing the C++ state."""

    enabled = _switch(_C._cudnn_enabled, _C._cudnn_set_enabled, "enabled")
    benchmark = _switch(_C._cudnn_benchmark, _C._cudnn_set_benchmark, "benchmark")
    deterministic = _switch(_C._cudnn_deterministic, _C._cudnn_set_deterministic,
                            "deterministic")
    allow_tf32 = _switch(_C._cudnn_allow_tf32, _C._cudnn_set_allow_tf32, "allow_tf32")


_NAMES = ("enabled", "benchmark", "deterministic", "allow_tf32")


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, deterministic=False, allow_tf32=True):
    """Sets the four switches for the body of a with-statement and restores them after (torch's
    defaults for the arguments)."""
    module = sys.modules[__name__]
    saved = {name: getattr(module, name) for name in _NAMES}
    try:
        for name, value in zip(_NAMES, (enabled, benchmark, deterministic, allow_tf32)):
            setattr(module, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


sys.modules[__name__].__class__ = _CudnnModule
