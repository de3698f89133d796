"""F.pad, F.interpolate / F.upsample, F.pixel_shuffle / F.pixel_unshuffle, F.dropout2d and the
modules nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle, nn.Dropout2d, nn.ZeroPad2d,
nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d vs PyTorch (float32 and float64):
outputs, input gradients, errors, reprs and state_dicts. dropout2d is checked for its mask
structure (whole channels zeroed, the rest scaled by 1 / (1 - p)), not torch's random draws."""
import warnings

import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from parity import to_kiln
from test_nn_support import FLOAT_DTYPES, compare_forward_backward, torch_dtype

# ---------------------------------------------------------------- pad

PADS = [
    ((2, 3, 4), (1, 2), "constant", 1.5),
    ((2, 3, 4, 5), (1, 2, 0, 3), "constant", None),
    ((2, 3, 4, 5), (-1, 2, 1, -2), "constant", 0.5),
    ((2, 3, 4, 5), (1, 1, 1, 1, 1, 1), "constant", None),
    ((3, 4), (2, 3), "reflect", None),
    ((2, 3, 4), (3, 1), "reflect", None),
    ((2, 3, 4, 5), (4, 1, 3, 2), "reflect", None),
    ((3, 4, 5), (1, 2, 2, 0), "reflect", None),
    ((1, 2, 3, 4, 5), (1, 2, 2, 0, 1, 1), "reflect", None),
    ((2, 3, 4, 5), (1, 2, 0, 0, 2, 1), "reflect", None),
    ((2, 3, 4), (3, 5), "replicate", None),
    ((2, 3, 4, 5), (0, 3, 2, 1), "replicate", None),
    ((1, 2, 3, 4, 5), (1, 2, 2, 0, 1, 1), "replicate", None),
    ((2, 3, 4), (2, 4), "circular", None),
    ((2, 3, 4, 5), (1, 5, 4, 2), "circular", None),
    ((2, 3, 4, 5), (-1, 2, 1, -2), "circular", None),
    ((1, 2, 3, 4, 5), (1, 2, 2, 0, 3, 1), "circular", None),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape,pad,mode,value", PADS)
def test_pad(shape, pad, mode, value, dtype):
    x = torch.randn(shape, dtype=torch_dtype(dtype))
    compare_forward_backward(lambda t: F.pad(t, pad, mode=mode, value=value),
                             lambda t: torch.nn.functional.pad(t, pad, mode=mode, value=value),
                             [x], msg=f"pad {mode} {pad}")


BAD_PADS = [
    ((1, 2, 3, 4), (1, 1, 1), "constant", None),
    ((1, 2, 3, 4), (1, 1) * 5, "constant", None),
    ((1, 2, 3, 4), (-4, -2), "constant", None),
    ((1, 2, 3, 4), (3, 3, 3, 3), "reflect", None),
    ((1, 2, 3, 4), (4, 1), "reflect", None),
    ((1, 2, 3, 4), (1, 1), "reflect", 1.0),
    ((1, 2, 3, 4), (5, 1, 1, 1), "circular"),
    ((2, 3, 4), (1, 1, 1, 1), "circular", None),
    ((3, 4), (1, 1), "circular", None),
    ((1, 2, 3, 4), (1, 1), "foo", None),
    ((1, 2, 3, 4), (1,) * 8, "replicate", None),
]


@pytest.mark.parametrize("case", BAD_PADS)
def test_pad_errors(case):
    shape, pad, mode = case[:3]
    value = case[3] if len(case) > 3 else None
    x = torch.zeros(shape)
    with pytest.raises(Exception) as t_err:
        torch.nn.functional.pad(x, pad, mode=mode, value=value)
    expected = NotImplementedError if t_err.type is NotImplementedError else Exception
    with pytest.raises(expected):
        F.pad(to_kiln(x), pad, mode=mode, value=value)


# ---------------------------------------------------------------- interpolate

INTERPOLATIONS = [
    ((2, 3, 5), dict(size=7, mode="nearest")),
    ((2, 3, 5), dict(scale_factor=1.7, mode="nearest")),
    ((2, 3, 5), dict(scale_factor=0.6, mode="nearest", recompute_scale_factor=True)),
    ((1, 2, 3, 4), dict(size=(5, 7), mode="nearest")),
    ((1, 2, 3, 4), dict(scale_factor=2, mode="nearest")),
    ((1, 2, 6, 4), dict(scale_factor=(0.5, 2.5), mode="nearest")),
    ((1, 2, 2, 3, 2), dict(size=(3, 5, 4), mode="nearest")),
    ((1, 2, 3, 4), dict(size=(5, 7), mode="nearest-exact")),
    ((1, 2, 3, 4), dict(scale_factor=1.3, mode="nearest-exact")),
    ((2, 3, 5), dict(size=8, mode="linear")),
    ((2, 3, 5), dict(size=8, mode="linear", align_corners=True)),
    ((2, 3, 5), dict(scale_factor=1.7, mode="linear")),
    ((2, 3, 5), dict(scale_factor=1.7, mode="linear", recompute_scale_factor=True)),
    ((2, 3, 1), dict(size=3, mode="linear", align_corners=True)),
    ((2, 3, 4), dict(size=1, mode="linear", align_corners=True)),
    ((1, 2, 3, 4), dict(size=(5, 7), mode="bilinear")),
    ((1, 2, 3, 4), dict(size=(5, 7), mode="bilinear", align_corners=True)),
    ((1, 2, 3, 4), dict(scale_factor=2, mode="bilinear")),
    ((1, 2, 3, 4), dict(scale_factor=(1.7, 0.6), mode="bilinear")),
    ((1, 2, 3, 4), dict(scale_factor=(1.7, 0.6), mode="bilinear", align_corners=True)),
    ((1, 2, 6, 7), dict(size=(4, 3), mode="bilinear")),
    ((1, 2, 3, 4), dict(scale_factor=2.3, mode="bilinear", recompute_scale_factor=True)),
    ((1, 1, 2, 3, 2), dict(size=(3, 5, 4), mode="trilinear")),
    ((1, 1, 2, 3, 2), dict(scale_factor=1.5, mode="trilinear", align_corners=True)),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape,options", INTERPOLATIONS)
def test_interpolate(shape, options, dtype):
    x = torch.randn(shape, dtype=torch_dtype(dtype))
    compare_forward_backward(lambda t: F.interpolate(t, **options),
                             lambda t: torch.nn.functional.interpolate(t, **options), [x],
                             msg=f"interpolate {options}")


def test_interpolate_scale_factor_source_index_differs_from_recomputed():
    # With scale_factor 1.7 the source index uses 1 / 1.7; recompute_scale_factor uses 3 / 5.
    x = kiln.tensor([[[1.0, 2.0, 3.0]]], dtype=kiln.float64)
    a = F.interpolate(x, scale_factor=1.7, mode="linear").numpy()[0, 0]
    b = F.interpolate(x, scale_factor=1.7, mode="linear", recompute_scale_factor=True).numpy()
    np.testing.assert_allclose(a[1], 1 + 1.5 / 1.7 - 0.5)
    np.testing.assert_allclose(b[0, 0], [1, 1.4, 2, 2.6, 3])


BAD_INTERPOLATIONS = [
    ((1, 2, 3, 4), dict(size=(5, 6), mode="nearest", align_corners=True), ValueError),
    ((1, 2, 3, 4), dict(size=(5, 6, 7), mode="nearest"), ValueError),
    ((1, 2, 3, 4), dict(scale_factor=(2, 2, 2), mode="nearest"), ValueError),
    ((1, 2, 3, 4), dict(mode="nearest"), ValueError),
    ((1, 2, 3, 4), dict(size=5, scale_factor=2), ValueError),
    ((1, 2, 3, 4), dict(size=5, recompute_scale_factor=True), ValueError),
    ((1, 2, 3, 4), dict(size=5, mode="linear"), NotImplementedError),
    ((2, 3, 4), dict(size=5, mode="bilinear"), NotImplementedError),
    ((1, 2, 3, 4), dict(size=5, mode="foo"), NotImplementedError),
    ((1, 2, 3, 4), dict(scale_factor=0.1), Exception),
    ((1, 2, 3, 4), dict(size=0), Exception),
]


@pytest.mark.parametrize("shape,options,error", BAD_INTERPOLATIONS)
def test_interpolate_errors(shape, options, error):
    x = torch.zeros(shape)
    with pytest.raises(error):
        torch.nn.functional.interpolate(x, **options)
    with pytest.raises(error):
        F.interpolate(to_kiln(x), **options)


def test_upsample_is_deprecated_interpolate():
    x = torch.randn(1, 2, 3, 4)
    with pytest.warns(UserWarning, match="upsample is deprecated"):
        k = F.upsample(to_kiln(x), scale_factor=2, mode="bilinear", align_corners=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.nn.functional.upsample(x, scale_factor=2, mode="bilinear", align_corners=True)
    np.testing.assert_allclose(k.numpy(), t.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- pixel shuffle

@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape,r", [((8, 2, 3), 2), ((2, 9, 2, 1), 3), ((2, 1, 4, 2, 2), 2),
                                     ((1, 3, 2, 2), 1)])
def test_pixel_shuffle(shape, r, dtype):
    x = torch.randn(shape, dtype=torch_dtype(dtype))
    compare_forward_backward(lambda t: F.pixel_shuffle(t, r),
                             lambda t: torch.nn.functional.pixel_shuffle(t, r), [x])
    y = torch.nn.functional.pixel_shuffle(x, r).detach()
    compare_forward_backward(lambda t: F.pixel_unshuffle(t, r),
                             lambda t: torch.nn.functional.pixel_unshuffle(t, r), [y])


@pytest.mark.parametrize("fn,shape,r", [("pixel_shuffle", (2, 3), 2),
                                        ("pixel_shuffle", (1, 3, 2, 2), 2),
                                        ("pixel_shuffle", (1, 4, 2, 2), 0),
                                        ("pixel_unshuffle", (1, 1, 3, 4), 2),
                                        ("pixel_unshuffle", (1, 1, 4, 3), 2)])
def test_pixel_shuffle_errors(fn, shape, r):
    x = torch.zeros(shape)
    with pytest.raises(RuntimeError):
        getattr(torch.nn.functional, fn)(x, r)
    with pytest.raises(Exception, match=fn):
        getattr(F, fn)(to_kiln(x), r)


# ---------------------------------------------------------------- dropout2d

def _channel_values(y, shape):
    """Per (dim 0, dim 1) entry: the set of values over the remaining dims."""
    v = y.numpy().reshape(shape[0] * shape[1], -1)
    return [np.unique(row) for row in v]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", [(4, 8, 3, 3), (6, 5, 4)])
def test_dropout2d_mask_is_channelwise_and_scaled(shape, dtype):
    kiln.manual_seed(0)
    x = kiln.ones(shape, dtype=dtype, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = F.dropout2d(x, p=0.25)
    rows = _channel_values(y.detach(), shape)
    assert all(len(r) == 1 and (r[0] == 0 or np.isclose(r[0], 1 / 0.75)) for r in rows), rows
    dropped = sum(r[0] == 0 for r in rows)
    assert 0 < dropped < len(rows)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())


def test_dropout2d_warnings_follow_torch():
    for shape in [(2, 3, 4), (2, 3), (1, 2, 3, 4, 5), (2, 3, 4, 5)]:
        x = torch.ones(shape)
        with warnings.catch_warnings(record=True) as tw:
            warnings.simplefilter("always")
            torch.nn.functional.dropout2d(x, 0.5)
        with warnings.catch_warnings(record=True) as kw:
            warnings.simplefilter("always")
            F.dropout2d(to_kiln(x), 0.5)
        assert [str(w.message) for w in kw] == [str(w.message) for w in tw], shape


def test_dropout2d_special_cases():
    x = kiln.randn(2, 3, 4, 4)
    assert F.dropout2d(x, 0.5, training=False) is x or np.array_equal(
        F.dropout2d(x, 0.5, training=False).numpy(), x.numpy())
    assert np.array_equal(F.dropout2d(x, 1.0).numpy(), np.zeros((2, 3, 4, 4), np.float32))
    assert np.array_equal(F.dropout2d(x, 0.0).numpy(), x.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout2d(x, 1.5)
    with pytest.raises(RuntimeError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.nn.functional.dropout2d(torch.ones(3), 0.5)
    with pytest.raises(Exception, match="dropout2d"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        F.dropout2d(kiln.ones(3), 0.5)
    y = kiln.ones(2, 3, 2, 2)
    kiln.manual_seed(1)
    out = F.dropout2d(y, 0.5, inplace=True)
    assert out is y
    assert set(np.unique(y.numpy())) <= {0.0, 2.0}


# ---------------------------------------------------------------- modules

MODULES = [
    (lambda m: m.Upsample(scale_factor=2), (1, 2, 3, 4)),
    (lambda m: m.Upsample(size=(5, 7), mode="bilinear", align_corners=True), (1, 2, 3, 4)),
    (lambda m: m.Upsample(scale_factor=(1.5, 0.5), mode="bilinear"), (1, 2, 4, 4)),
    (lambda m: m.Upsample(size=7, mode="linear"), (2, 3, 4)),
    (lambda m: m.PixelShuffle(2), (1, 8, 2, 3)),
    (lambda m: m.PixelUnshuffle(2), (1, 2, 4, 6)),
    (lambda m: m.ZeroPad2d(2), (1, 2, 3, 4)),
    (lambda m: m.ZeroPad2d((1, 0, 2, -1)), (2, 3, 4)),
    (lambda m: m.ConstantPad2d((1, 2, 0, 1), 3.5), (1, 2, 3, 4)),
    (lambda m: m.ReflectionPad2d(2), (1, 2, 3, 4)),
    (lambda m: m.ReflectionPad2d((3, 0, 1, 2)), (2, 4, 4)),
    (lambda m: m.ReplicationPad2d(3), (1, 2, 3, 4)),
    (lambda m: m.ReplicationPad2d((0, 1, 2, 3)), (2, 3, 4)),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("make,shape", MODULES)
def test_modules(make, shape, dtype):
    k, t = make(nn), make(torch.nn)
    assert repr(k) == repr(t)
    assert dict(k.state_dict()) == {} and dict(t.state_dict()) == {}
    x = torch.randn(shape, dtype=torch_dtype(dtype))
    compare_forward_backward(k, t, [x], msg=repr(t))


def test_dropout2d_module():
    k, t = nn.Dropout2d(0.3), torch.nn.Dropout2d(0.3)
    assert repr(k) == repr(t)
    assert repr(nn.Dropout2d(inplace=True)) == repr(torch.nn.Dropout2d(inplace=True))
    x = kiln.ones(4, 6, 2, 2)
    kiln.manual_seed(2)
    rows = _channel_values(k(x), (4, 6))
    assert all(len(r) == 1 and (r[0] == 0 or np.isclose(r[0], 1 / 0.7)) for r in rows)
    k.eval()
    np.testing.assert_array_equal(k(x).numpy(), x.numpy())
    with pytest.raises(ValueError):
        nn.Dropout2d(1.5)


def test_exported_names():
    for name in ["pad", "interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle",
                 "dropout2d"]:
        assert name in F.__all__
    for name in ["Upsample", "PixelShuffle", "PixelUnshuffle", "Dropout2d", "ZeroPad2d",
                 "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d"]:
        assert name in nn.__all__ and issubclass(getattr(nn, name), nn.Module)
