"""Conv2d, MaxPool2d, AvgPool2d and their functional forms vs PyTorch (float32 and float64):
outputs, input and parameter gradients, reprs, default initialisation bounds."""
import math

import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from parity import assert_close, to_kiln
from test_nn_support import FLOAT_DTYPES, compare_forward_backward, compare_modules

CONVS = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=2, out_channels=4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
    dict(in_channels=4, out_channels=2, kernel_size=3, padding="same", dilation=2, groups=2),
    dict(in_channels=3, out_channels=3, kernel_size=2, padding="valid", bias=False),
    dict(in_channels=2, out_channels=2, kernel_size=4, padding="same"),  # uneven padding
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on its own copy
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("options", CONVS)
def test_conv2d(options, dtype):
    k, t = nn.Conv2d(**options), torch.nn.Conv2d(**options)
    assert repr(k) == repr(t)
    x = torch.randn(2, options["in_channels"], 7, 6)
    # float32: sums of up to 36 products; atol covers outputs that cancel to near zero.
    compare_modules(k, t, x, dtype=dtype, atol=1e-5 if dtype is kiln.float32 else None)


def test_conv2d_unbatched_and_functional():
    w, b = torch.randn(4, 3, 3, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    x = torch.randn(3, 5, 5, dtype=torch.float64)
    compare_forward_backward(F.conv2d, torch.nn.functional.conv2d, [x, w, b])
    compare_forward_backward(lambda a, c: F.conv2d(a, c, None, 2, 1),
                             lambda a, c: torch.nn.functional.conv2d(a, c, None, 2, 1), [x, w])


def test_conv2d_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string"):
        nn.Conv2d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="channels"):
        nn.Conv2d(3, 4, 3)(kiln.randn(1, 2, 5, 5))


def test_conv2d_default_initialisation_bounds():
    conv = nn.Conv2d(8, 16, 3)
    bound = 1 / math.sqrt(8 * 9)  # kaiming_uniform_(a=sqrt(5)) with fan_in = 8 * 3 * 3
    weight, bias = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.99 * bound  # 1152 draws
    assert np.abs(bias).max() <= bound
    assert tuple(conv.weight.shape) == (16, 8, 3, 3)
    assert list(conv.state_dict()) == ["weight", "bias"]


POOLS = [
    lambda m: m.MaxPool2d(2),
    lambda m: m.MaxPool2d(3, stride=2, padding=1),
    lambda m: m.MaxPool2d((2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True),
    lambda m: m.AvgPool2d(2),
    lambda m: m.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
    lambda m: m.AvgPool2d((3, 2), stride=1, padding=(1, 0), ceil_mode=True),
    lambda m: m.AvgPool2d(2, divisor_override=3),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("make", POOLS)
def test_pooling(make, dtype):
    k, t = make(nn), make(torch.nn)
    assert repr(k) == repr(t)
    compare_modules(k, t, torch.randn(2, 3, 7, 8), dtype=dtype)


def test_max_pool_with_indices():
    x = torch.randn(2, 2, 6, 6)
    k_values, k_indices = nn.MaxPool2d(2, return_indices=True)(to_kiln(x))
    t_values, t_indices = torch.nn.MaxPool2d(2, return_indices=True)(x)
    assert_close(k_values, t_values)
    assert_close(k_indices, t_indices)
    k_values, k_indices = F.max_pool2d_with_indices(to_kiln(x), 3, 2, 1)
    t_values, t_indices = torch.nn.functional.max_pool2d_with_indices(x, 3, 2, 1)
    assert_close(k_values, t_values)
    assert_close(k_indices, t_indices)
