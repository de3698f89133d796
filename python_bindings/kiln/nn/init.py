"""kiln.nn.init: in-place initialisation, as torch.nn.init. Each function fills the tensor
without recording history (so it works on parameters), draws from Kiln's default generator
(kiln.manual_seed makes it reproducible) and returns the same tensor object.

The distributions are torch's; the values differ from torch's for the same seed, since the
generators differ. trunc_normal_, dirac_ and sparse_ are not provided.
"""
import math
import warnings

from .. import _C
from .._grad_mode import no_grad

_nn = _C._nn

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "orthogonal_"]


_UNIT_GAIN = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity: 1 for linear/conv/sigmoid, 5/3 for tanh,
    sqrt(2) for relu, sqrt(2 / (1 + slope²)) for leaky_relu (param: the slope, default 0.01),
    3/4 for selu."""
    if nonlinearity == "leaky_relu" and param is not None:
        if isinstance(param, bool) or not isinstance(param, (int, float)):
            raise ValueError(f"negative_slope {param} not a valid number")
    if nonlinearity in _UNIT_GAIN:
        return 1  # an int, as torch returns
    try:
        return _nn.calculate_gain(nonlinearity, param)
    except ValueError:
        raise ValueError(f"Unsupported nonlinearity {nonlinearity}") from None


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         "dimensions")
    return tuple(_nn.calculate_fan_in_and_fan_out(tensor))


def uniform_(tensor, a=0.0, b=1.0):
    _nn.uniform_(tensor, a, b)
    return tensor


def normal_(tensor, mean=0.0, std=1.0):
    _nn.normal_(tensor, mean, std)
    return tensor


def constant_(tensor, val):
    _nn.constant_(tensor, val)
    return tensor


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def eye_(tensor):
    """The identity matrix, for a 2-D tensor."""
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with no_grad():
        tensor.copy_(_C._eye(tensor.shape[0], tensor.shape[1], tensor.dtype, tensor.device,
                             False))
    return tensor


def xavier_uniform_(tensor, gain=1.0):
    _nn.xavier_uniform_(tensor, gain)
    return tensor


def xavier_normal_(tensor, gain=1.0):
    _nn.xavier_normal_(tensor, gain)
    return tensor


def _check_mode(mode):
    if mode.lower() not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    return mode.lower()


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity,
    a), fan chosen by mode."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op")
        return tensor
    _nn.kaiming_uniform_(tensor, a, _check_mode(mode), nonlinearity)
    return tensor


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std²) with std = gain / sqrt(fan)."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op")
        return tensor
    _nn.kaiming_normal_(tensor, a, _check_mode(mode), nonlinearity)
    return tensor


def orthogonal_(tensor, gain=1):
    """A (semi-)orthogonal matrix scaled by gain; tensors of more than 2 dimensions are
    flattened to [size(0), -1]."""
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    _nn.orthogonal_(tensor, gain)
    return tensor


def _default_layer_init_(weight, bias):
    """torch's default initialisation of Linear and ConvNd: kaiming_uniform_(a=sqrt(5)) for the
    weight, uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias (zeros when fan_in is 0)."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
