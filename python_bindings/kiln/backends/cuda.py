"""kiln.backends.cuda: cuBLAS settings, as torch.backends.cuda.

    kiln.backends.cuda.matmul.allow_tf32 = True   # float32 matmuls on TF32 tensor cores

The switch is off by default (float32 products compute in float32) and is shared with C++
(kiln::cuda::set_allow_tf32 / allow_tf32).
"""
from .. import _C

__all__ = ["matmul", "is_built"]


class cuBLASModule:
    """torch.backends.cuda.matmul: a module-like object whose attributes are live settings."""

    __slots__ = ()

    @property
    def allow_tf32(self):
        return _C._get_allow_tf32()

    @allow_tf32.setter
    def allow_tf32(self, value):
        if not isinstance(value, bool):
            raise TypeError(f"allow_tf32 expects a bool, got {type(value).__name__}")
        _C._set_allow_tf32(value)

    def __repr__(self):
        return f"<kiln.backends.cuda.matmul allow_tf32={self.allow_tf32}>"


matmul = cuBLASModule()


def is_built():
    """Whether this build of Kiln has the CUDA backend (torch.backends.cuda.is_built)."""
    return _C._cuda_is_built()
