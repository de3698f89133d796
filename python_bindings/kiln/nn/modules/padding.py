"""ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d (torch.nn.modules.padding):
padding (an int, or (left, right, top, bottom)) of the last two dims through F.pad."""
from .. import functional as F
from .module import Module

__all__ = ["ConstantPad2d", "ZeroPad2d", "ReflectionPad2d", "ReplicationPad2d"]


def _quadruple(padding):
    if isinstance(padding, (list, tuple)):
        return tuple(padding)
    return (padding,) * 4


class ConstantPad2d(Module):
    def __init__(self, padding, value):
        super().__init__()
        self.padding = _quadruple(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class _NonConstantPad2d(Module):
    _mode = ""

    def __init__(self, padding):
        super().__init__()
        self.padding = _quadruple(padding)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad2d(_NonConstantPad2d):
    _mode = "reflect"


class ReplicationPad2d(_NonConstantPad2d):
    _mode = "replicate"
