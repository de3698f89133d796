"""Convolution modules (torch.nn.modules.conv of PyTorch 1.13): Conv1d, Conv2d, Conv3d,
ConvTranspose1d, ConvTranspose2d.

Weights are [out_channels, in_channels / groups, *kernel_size] ([in_channels, out_channels /
groups, *kernel_size] when transposed) and the bias [out_channels], initialised as torch's
(kaiming_uniform_(a=sqrt(5)); bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))), so state dicts load
both ways. padding_mode 'reflect' / 'replicate' / 'circular' pads through F.pad and then
convolves without padding, as torch does (so 'circular' needs a batched input, as in torch);
the transposed convolutions take only 'zeros', as in torch."""
import collections.abc
import itertools

from ... import _factories
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d"]


def _ntuple(n):
    """torch.nn.modules.utils._ntuple: an iterable becomes a tuple as is, anything else is
    repeated n times."""
    def parse(x):
        if isinstance(x, collections.abc.Iterable):
            return tuple(x)
        return tuple(itertools.repeat(x, n))
    return parse


_single, _pair, _triple = _ntuple(1), _ntuple(2), _ntuple(3)


def _reverse_repeat_tuple(t, n):
    """(a, b) -> (b, b, a, a) for n = 2: a per-dim padding in F.pad's order (last dim first)."""
    return tuple(x for x in reversed(t) for _ in range(n))


class _ConvNd(Module):
    """What the convolution modules share: the argument checks, the parameters and their
    initialisation, the padding for padding_mode, the repr."""

    _functional = None  # F.conv1d / conv2d / conv3d in the subclasses

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device=None,
                 dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 "{'same', 'valid'}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError("padding_mode must be one of {'zeros', 'reflect', 'replicate', "
                             f"'circular'}}, but got padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        # The padding F.pad applies for a padding_mode other than 'zeros', in F.pad's order.
        # 'same' puts the odd element at the end of each dim, as the functional form does.
        if isinstance(padding, str):
            self._reversed_padding_repeated_twice = [0, 0] * len(kernel_size)
            if padding == "same":
                for d, k, i in zip(dilation, kernel_size, range(len(kernel_size) - 1, -1, -1)):
                    total = d * (k - 1)
                    self._reversed_padding_repeated_twice[2 * i] = total // 2
                    self._reversed_padding_repeated_twice[2 * i + 1] = total - total // 2
        else:
            self._reversed_padding_repeated_twice = _reverse_repeat_tuple(padding, 2)
        if transposed:
            shape = (in_channels, out_channels // groups, *kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *kernel_size)
        self.weight = Parameter(_factories.empty(shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_factories.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init._default_layer_init_(self.weight, self.bias)

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return self._functional(input, weight, bias, self.stride, 0, self.dilation,
                                    self.groups)
        return self._functional(input, weight, bias, self.stride, self.padding, self.dilation,
                                self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


def _conv_sizes(ntuple, kernel_size, stride, padding, dilation):
    return (ntuple(kernel_size), ntuple(stride),
            padding if isinstance(padding, str) else ntuple(padding), ntuple(dilation))


class Conv1d(_ConvNd):
    _functional = staticmethod(F.conv1d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        kernel_size, stride, padding, dilation = _conv_sizes(_single, kernel_size, stride,
                                                             padding, dilation)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, _single(0), groups, bias, padding_mode, device, dtype)


class Conv2d(_ConvNd):
    _functional = staticmethod(F.conv2d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        kernel_size, stride, padding, dilation = _conv_sizes(_pair, kernel_size, stride,
                                                             padding, dilation)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, _pair(0), groups, bias, padding_mode, device, dtype)


class Conv3d(_ConvNd):
    _functional = staticmethod(F.conv3d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        kernel_size, stride, padding, dilation = _conv_sizes(_triple, kernel_size, stride,
                                                             padding, dilation)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, _triple(0), groups, bias, padding_mode, device, dtype)


class _ConvTransposeNd(_ConvNd):
    """The transposed convolutions: numeric padding only, padding_mode 'zeros' only, and
    forward(input, output_size=None), where output_size picks the output padding."""

    _num_spatial_dims = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device=None,
                 dtype=None):
        if padding_mode != "zeros":
            raise ValueError(
                f'Only "zeros" padding mode is supported for {self.__class__.__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         transposed, output_padding, groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size, stride, padding, kernel_size,
                        num_spatial_dims, dilation=None):
        """torch's rule: the output padding that makes the output output_size (given with or
        without the batch and channel dims), which must lie within [min, min + stride - 1] per
        dim; without output_size, the module's own output_padding."""
        if output_size is None:
            return _single(self.output_padding)
        has_batch_dim = input.dim() == num_spatial_dims + 2
        num_non_spatial_dims = 2 if has_batch_dim else 1
        output_size = list(output_size)
        if len(output_size) == num_non_spatial_dims + num_spatial_dims:
            output_size = output_size[num_non_spatial_dims:]
        if len(output_size) != num_spatial_dims:
            raise ValueError(
                f"ConvTranspose{num_spatial_dims}D: for {input.dim()}D input, output_size must "
                f"have {num_spatial_dims} or {num_non_spatial_dims + num_spatial_dims} elements "
                f"(got {len(output_size)})")
        min_sizes, max_sizes = [], []
        for d in range(num_spatial_dims):
            dim_size = ((input.size(d + num_non_spatial_dims) - 1) * stride[d] - 2 * padding[d]
                        + (dilation[d] if dilation is not None else 1) * (kernel_size[d] - 1)
                        + 1)
            min_sizes.append(dim_size)
            max_sizes.append(dim_size + stride[d] - 1)
        for size, low, high in zip(output_size, min_sizes, max_sizes):
            if size < low or size > high:
                raise ValueError(
                    f"requested an output size of {output_size}, but valid sizes range from "
                    f"{min_sizes} to {max_sizes} (for an input of {input.size()[2:]})")
        return [size - low for size, low in zip(output_size, min_sizes)]

    def forward(self, input, output_size=None):
        if self.padding_mode != "zeros":
            raise ValueError("Only `zeros` padding mode is supported for "
                             f"{self.__class__.__name__}")
        output_padding = self._output_padding(input, output_size, self.stride, self.padding,
                                              self.kernel_size, self._num_spatial_dims,
                                              self.dilation)
        return self._functional(input, self.weight, self.bias, self.stride, self.padding,
                                output_padding, self.groups, self.dilation)


def _transpose_sizes(ntuple, kernel_size, stride, padding, output_padding, dilation):
    return (ntuple(kernel_size), ntuple(stride), ntuple(padding), ntuple(output_padding),
            ntuple(dilation))


class ConvTranspose1d(_ConvTransposeNd):
    _functional = staticmethod(F.conv_transpose1d)
    _num_spatial_dims = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        kernel_size, stride, padding, output_padding, dilation = _transpose_sizes(
            _single, kernel_size, stride, padding, output_padding, dilation)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, device, dtype)


class ConvTranspose2d(_ConvTransposeNd):
    _functional = staticmethod(F.conv_transpose2d)
    _num_spatial_dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        kernel_size, stride, padding, output_padding, dilation = _transpose_sizes(
            _pair, kernel_size, stride, padding, output_padding, dilation)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, device, dtype)
