"""kiln.Tensor (the C++ class) plus the methods that are simplest in Python, and kiln.Size."""

from . import _C

Tensor = _C.Tensor


class Size(tuple):
    """A tensor's shape: a tuple of ints, like torch.Size."""

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key):
        r = tuple.__getitem__(self, key)
        return Size(r) if isinstance(key, slice) else r

    def __add__(self, other):  # Size + tuple is a Size, as in torch
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        return Size(tuple.__add__(tuple(other), self))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __repr__(self):
        return f"kiln.Size([{', '.join(str(s) for s in self)}])"


_C._set_size_type(Size)


def _tolist(self):
    if self.dim() == 0:
        return self.item()
    return self.numpy(force=True).tolist()


def _iter(self):
    if self.dim() == 0:
        raise TypeError("iteration over a 0-d tensor")
    return iter(self.unbind(0))


def _format(self, spec):
    if self.dim() == 0:
        return self.item().__format__(spec)
    return object.__format__(self, spec)


def _matrix_transpose(self):
    if self.dim() < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. "
                           f"Got {self.dim()}-D tensor.")
    return self.transpose(-2, -1)


def _adjoint(self):
    if self.dim() != 2:  # real tensors: the conjugate transpose is the transpose
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got "
                           f"{self.dim()}-D tensor.")
    return self.t()


def _cast(dtype):
    def cast(self, memory_format=None):
        return self.to(dtype, memory_format=memory_format)
    return cast


def _new_factory(fill):
    def new(self, *size, dtype=None, device=None, requires_grad=False):
        from ._factories import _size_args
        t = _C._full(_size_args(size), fill, dtype or self.dtype, device or self.device)
        return t.requires_grad_(requires_grad)
    return new


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    from ._factories import _size_args
    t = _C._full(_size_args((size,)), fill_value, dtype or self.dtype, device or self.device)
    return t.requires_grad_(requires_grad)


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    from ._factories import tensor
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                  requires_grad=requires_grad)


def _type(self, dtype=None):
    if dtype is None:
        names = {"float32": "Float", "float64": "Double", "float16": "Half",
                 "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "uint8": "Byte",
                 "bool": "Bool"}
        return "kiln." + names[repr(self.dtype)[5:]] + "Tensor"
    return self.to(dtype)


Tensor.mT = property(_matrix_transpose)
Tensor.mH = property(_matrix_transpose)  # real dtypes only: no conjugation
Tensor.H = property(_adjoint)
Tensor.tolist = _tolist
Tensor.__iter__ = _iter
Tensor.__format__ = _format
Tensor.__array_priority__ = 1000  # numpy_array + tensor defers to Tensor.__radd__
Tensor.float = _cast(_C.float32)
Tensor.double = _cast(_C.float64)
Tensor.half = _cast(_C.float16)
Tensor.bfloat16 = _cast(_C.bfloat16)
Tensor.long = _cast(_C.int64)
Tensor.int = _cast(_C.int32)
Tensor.bool = _cast(_C.bool)
Tensor.byte = _cast(_C.uint8)
Tensor.new_zeros = _new_factory(0)
Tensor.new_ones = _new_factory(1)
Tensor.new_empty = _new_factory(0)
Tensor.new_full = _new_full
Tensor.new_tensor = _new_tensor
Tensor.type = _type
Tensor.__module__ = "kiln"


def _deepcopy(self, memo):
    """copy.deepcopy(t): a clone with the same requires_grad (copy.deepcopy(model.state_dict()),
    copy.deepcopy(module) with buffers)."""
    if id(self) not in memo:
        clone = self.detach().clone()
        memo[id(self)] = clone.requires_grad_(self.requires_grad) if self.is_leaf else clone
    return memo[id(self)]


Tensor.__deepcopy__ = _deepcopy
