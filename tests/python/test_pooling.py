"""max_pool1d, avg_pool1d, adaptive_avg_pool1d/2d, adaptive_max_pool2d, max_unpool2d and their
modules vs PyTorch (float32 and float64): outputs, indices, input gradients, reprs and (empty)
state_dicts."""
import pytest
import torch

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from parity import assert_close, to_kiln
from test_nn_support import FLOAT_DTYPES, compare_forward_backward, compare_modules, torch_dtype

TF = torch.nn.functional

POOL1D = [
    dict(kernel_size=3),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=2, stride=1, dilation=2),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=(4,), stride=(3,), padding=(2,), ceil_mode=True),
]
AVG1D = [
    dict(kernel_size=3),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=2, stride=3, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
]
ADAPTIVE2D = [1, 2, 3, (2, 4), (5, 3), (None, 2), (3, None), (7, 7), 0]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("options", POOL1D)
def test_max_pool1d(options, dtype):
    x = torch.randn(2, 3, 9, dtype=torch_dtype(dtype))
    compare_forward_backward(lambda a: F.max_pool1d(a, **options),
                             lambda a: TF.max_pool1d(a, **options), [x])
    k_v, k_i = F.max_pool1d(to_kiln(x), return_indices=True, **options)
    t_v, t_i = TF.max_pool1d(x, return_indices=True, **options)
    assert_close(k_v, t_v)
    assert_close(k_i, t_i)
    k, t = nn.MaxPool1d(**options), torch.nn.MaxPool1d(**options)
    assert repr(k) == repr(t)
    compare_modules(k, t, x, dtype=dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("options", AVG1D)
def test_avg_pool1d(options, dtype):
    x = torch.randn(2, 3, 9)
    k, t = nn.AvgPool1d(**options), torch.nn.AvgPool1d(**options)
    assert repr(k) == repr(t)
    compare_modules(k, t, x, dtype=dtype)
    compare_forward_backward(lambda a: F.avg_pool1d(a, **options),
                             lambda a: TF.avg_pool1d(a, **options), [x.to(torch_dtype(dtype))[0]])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("size", ADAPTIVE2D)
def test_adaptive_pool2d(size, dtype):
    x = torch.randn(2, 3, 5, 7, dtype=torch_dtype(dtype))
    if size == 0:  # an empty result (torch has no backward for it)
        assert_close(F.adaptive_avg_pool2d(to_kiln(x), 0), TF.adaptive_avg_pool2d(x, 0))
        assert_close(F.adaptive_max_pool2d(to_kiln(x), 0), TF.adaptive_max_pool2d(x, 0))
        return
    compare_forward_backward(lambda a: F.adaptive_avg_pool2d(a, size),
                             lambda a: TF.adaptive_avg_pool2d(a, size), [x])
    compare_forward_backward(lambda a: F.adaptive_max_pool2d(a, size),
                             lambda a: TF.adaptive_max_pool2d(a, size), [x[0]])
    k_v, k_i = F.adaptive_max_pool2d(to_kiln(x), size, return_indices=True)
    t_v, t_i = TF.adaptive_max_pool2d(x, size, return_indices=True)
    assert_close(k_v, t_v)
    assert_close(k_i, t_i)
    for k, t in [(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size)),
                 (nn.AdaptiveMaxPool2d(size), torch.nn.AdaptiveMaxPool2d(size))]:
        assert repr(k) == repr(t)
        assert len(k.state_dict()) == 0 and len(t.state_dict()) == 0
        compare_modules(k, t, x, dtype=dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("size", [1, 3, 4, 9, 12])
def test_adaptive_avg_pool1d(size, dtype):
    x = torch.randn(2, 3, 9)
    k, t = nn.AdaptiveAvgPool1d(size), torch.nn.AdaptiveAvgPool1d(size)
    assert repr(k) == repr(t)
    compare_modules(k, t, x, dtype=dtype)
    compare_forward_backward(lambda a: F.adaptive_avg_pool1d(a, size),
                             lambda a: TF.adaptive_avg_pool1d(a, size),
                             [x[0].to(torch_dtype(dtype))])


def test_adaptive_max_ties_take_first():
    x = torch.tensor([[[1.0, 2.0, 2.0], [2.0, 0.0, 2.0], [2.0, 2.0, 1.0]]])
    k_v, k_i = F.adaptive_max_pool2d(to_kiln(x), 2, return_indices=True)
    t_v, t_i = TF.adaptive_max_pool2d(x, 2, return_indices=True)
    assert_close(k_i, t_i)
    compare_forward_backward(lambda a: F.adaptive_max_pool2d(a, 2),
                             lambda a: TF.adaptive_max_pool2d(a, 2), [x])


UNPOOL = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(2, 1)),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("options", UNPOOL)
def test_max_unpool2d(options, dtype):
    x = torch.randn(2, 3, 6, 7, dtype=torch_dtype(dtype))
    values, indices = TF.max_pool2d(x, return_indices=True, **options)
    size = x.shape  # the pooled plane's size, as torch's docs recommend
    compare_forward_backward(
        lambda v, i: F.max_unpool2d(v, i, output_size=size, **options),
        lambda v, i: TF.max_unpool2d(v, i, output_size=size, **options), [values, indices])
    k, t = nn.MaxUnpool2d(**options), torch.nn.MaxUnpool2d(**options)
    assert repr(k) == repr(t)
    assert len(k.state_dict()) == 0
    k.to(dtype)
    assert_close(k(to_kiln(values), to_kiln(indices), x.shape[-2:]),
                 t(values, indices, x.shape[-2:]))
    # Round trip through kiln's own max_pool2d, unbatched, default output size.
    kv, ki = F.max_pool2d(to_kiln(x[0]), options["kernel_size"], options.get("stride"),
                          options.get("padding", 0), return_indices=True)
    try:
        expected = TF.max_unpool2d(values[0], indices[0], **options)
    except RuntimeError:
        return  # the default size is smaller than the pooled plane: torch refuses too
    assert_close(F.max_unpool2d(kv, ki, **options), expected)


def test_errors():
    with pytest.raises(ValueError, match="max_pool1d: output size .*kernel 7"):
        F.max_pool1d(kiln.randn(1, 2, 5), 7)
    with pytest.raises(ValueError, match="max_pool1d: pad should be at most half"):
        F.max_pool1d(kiln.randn(1, 2, 5), 3, padding=2)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d"):
        F.adaptive_avg_pool2d(kiln.randn(4, 4), 2)
    with pytest.raises(ValueError, match="invalid max index 99"):
        F.max_unpool2d(kiln.randn(1, 1, 2, 2), kiln.tensor([[[[0, 1], [2, 99]]]]), 2)
    with pytest.raises(ValueError, match="invalid output_size"):
        F.max_unpool2d(kiln.randn(1, 1, 2, 2), kiln.tensor([[[[0, 1], [2, 3]]]]), 2,
                       output_size=(6, 4))
