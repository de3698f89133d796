"""Conv1d, Conv3d, ConvTranspose1d/2d, Conv2d's padding modes and their functional forms vs
PyTorch 1.13 on the same weights and inputs: outputs and the gradients of the input, weight and
bias in float32 and float64 over stride / padding / 'same' / 'valid' / dilation / groups
(depthwise included) / bias / padding_mode / output_padding / output_size and unbatched inputs;
reprs, state_dict layouts, default initialisation, error types and messages, fp64 gradcheck."""
import math

import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from parity import assert_close, to_kiln
from test_nn_support import FLOAT_DTYPES, compare_forward_backward, compare_modules

TF = torch.nn.functional

# torch's note about its own copy of the input for 'same' with even kernels.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

# (module name, constructor options, input shape). Channel counts are small: float32 sums of up
# to ~50 products, checked with atol 1e-5 for outputs that cancel to near zero.
CASES = [
    ("Conv1d", dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 11)),
    ("Conv1d", dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1,
                    dilation=2), (2, 2, 11)),
    ("Conv1d", dict(in_channels=4, out_channels=8, kernel_size=3, padding="same", groups=4),
     (2, 4, 9)),  # depthwise, multiplier 2
    ("Conv1d", dict(in_channels=4, out_channels=2, kernel_size=4, padding="same", dilation=2,
                    groups=2, bias=False), (2, 4, 10)),  # uneven 'same' padding
    ("Conv1d", dict(in_channels=2, out_channels=3, kernel_size=(2,), padding="valid"),
     (2, 2, 7)),
    ("Conv1d", dict(in_channels=2, out_channels=3, kernel_size=3, padding=2,
                    padding_mode="reflect"), (2, 2, 7)),
    ("Conv1d", dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1,
                    padding_mode="circular"), (2, 2, 8)),
    ("Conv1d", dict(in_channels=2, out_channels=3, kernel_size=4, padding="same",
                    padding_mode="replicate"), (2, 2, 7)),
    ("Conv2d", dict(in_channels=2, out_channels=3, kernel_size=3, padding=(1, 2),
                    padding_mode="reflect"), (2, 2, 6, 7)),
    ("Conv2d", dict(in_channels=2, out_channels=4, kernel_size=(3, 2), stride=(2, 1),
                    padding=1, groups=2, padding_mode="circular"), (2, 2, 6, 5)),
    ("Conv2d", dict(in_channels=2, out_channels=3, kernel_size=3, padding="same", dilation=2,
                    padding_mode="replicate", bias=False), (2, 2, 6, 5)),
    ("Conv3d", dict(in_channels=2, out_channels=3, kernel_size=3), (2, 2, 5, 6, 4)),
    ("Conv3d", dict(in_channels=2, out_channels=4, kernel_size=(1, 2, 3), stride=(1, 2, 1),
                    padding=(0, 1, 2), dilation=(2, 1, 1), groups=2), (2, 2, 4, 5, 3)),
    ("Conv3d", dict(in_channels=3, out_channels=3, kernel_size=3, padding="same", groups=3,
                    bias=False), (2, 3, 4, 5, 4)),  # depthwise
    ("Conv3d", dict(in_channels=2, out_channels=2, kernel_size=2, stride=2, padding="valid"),
     (2, 2, 5, 4, 4)),
    ("Conv3d", dict(in_channels=2, out_channels=3, kernel_size=(2, 3, 3), padding=1,
                    padding_mode="reflect"), (2, 2, 3, 4, 5)),
    ("Conv3d", dict(in_channels=2, out_channels=2, kernel_size=3, padding=(1, 0, 2),
                    padding_mode="circular"), (1, 2, 3, 4, 5)),
    ("Conv3d", dict(in_channels=2, out_channels=2, kernel_size=2, padding="same",
                    padding_mode="replicate"), (1, 2, 3, 4, 5)),
    ("ConvTranspose1d", dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 6)),
    ("ConvTranspose1d", dict(in_channels=2, out_channels=4, kernel_size=3, stride=3, padding=1,
                             output_padding=2, groups=2, dilation=2, bias=False), (2, 2, 5)),
    ("ConvTranspose2d", dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 4, 5)),
    ("ConvTranspose2d", dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1,
                             output_padding=1), (2, 2, 4, 5)),
    ("ConvTranspose2d", dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 3),
                             padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2)),
     (2, 4, 3, 4)),
    ("ConvTranspose2d", dict(in_channels=4, out_channels=4, kernel_size=3, stride=2,
                             output_padding=1, groups=4, dilation=2, bias=False),
     (2, 4, 3, 3)),  # depthwise; output_padding < dilation
]


def _ids(case):
    name, options, _ = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in options.items()
                                 if k not in ("in_channels", "out_channels"))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_module_parity(case, dtype):
    name, options, shape = case
    k, t = getattr(nn, name)(**options), getattr(torch.nn, name)(**options)
    assert repr(k) == repr(t)
    k_state, t_state = k.state_dict(), t.state_dict()
    assert list(k_state) == list(t_state)
    assert [tuple(v.shape) for v in k_state.values()] == \
        [tuple(v.shape) for v in t_state.values()]
    compare_modules(k, t, torch.randn(*shape), dtype=dtype,
                    atol=1e-5 if dtype is kiln.float32 else None)


UNBATCHED = [
    ("Conv1d", dict(in_channels=2, out_channels=3, kernel_size=3, padding=1,
                    padding_mode="reflect"), (2, 7)),
    ("Conv3d", dict(in_channels=2, out_channels=3, kernel_size=2, stride=(1, 2, 1)),
     (2, 3, 4, 5)),
    ("ConvTranspose1d", dict(in_channels=2, out_channels=3, kernel_size=3, stride=2), (2, 5)),
    ("ConvTranspose2d", dict(in_channels=2, out_channels=3, kernel_size=3, stride=2,
                             padding=1, output_padding=1), (2, 3, 4)),
]


@pytest.mark.parametrize("case", UNBATCHED, ids=[c[0] for c in UNBATCHED])
def test_unbatched_input(case):
    name, options, shape = case
    k, t = getattr(nn, name)(**options), getattr(torch.nn, name)(**options)
    k_out, _ = compare_modules(k, t, torch.randn(*shape), dtype=kiln.float64)
    assert k_out.dim() == len(shape)


def _tensors(*shapes):
    return [torch.randn(*s, dtype=torch.float64) for s in shapes]


# (name, kiln call, torch call, argument shapes): torch's argument spellings (ints, tuples,
# lists, keywords, None bias, strings).
FUNCTIONAL = [
    ("conv1d tuples", lambda f, x, w, b: f.conv1d(x, w, b, stride=(2,), padding=[1], dilation=2),
     [(2, 4, 9), (6, 4, 3), (6,)]),
    ("conv1d groups", lambda f, x, w: f.conv1d(x, w, None, 1, "same", 3, 2),
     [(1, 4, 9), (4, 2, 3)]),
    ("conv1d valid", lambda f, x, w, b: f.conv1d(x, w, b, padding="valid"),
     [(3, 5), (2, 3, 2), (2,)]),
    ("conv3d tuples", lambda f, x, w, b: f.conv3d(x, w, b, (2, 1, 1), (1, 0, 1), [1, 2, 1]),
     [(2, 2, 5, 6, 4), (3, 2, 3, 2, 2), (3,)]),
    ("conv3d same", lambda f, x, w: f.conv3d(x, w, padding="same", dilation=(1, 2, 1)),
     [(1, 2, 4, 5, 3), (2, 2, 2, 3, 2)]),
    ("conv2d tuples", lambda f, x, w, b: f.conv2d(x, w, b, [2, 1], (0, 1), (1, 2)),
     [(2, 2, 7, 6), (3, 2, 3, 2), (3,)]),
    ("conv_transpose2d positional", lambda f, x, w, b: f.conv_transpose2d(x, w, b, 2, 1, 1, 1, 1),
     [(2, 3, 4, 5), (3, 2, 3, 3), (2,)]),
    ("conv_transpose2d keywords",
     lambda f, x, w: f.conv_transpose2d(x, w, None, stride=(2, 1), padding=[0, 1],
                                        output_padding=(1, 0), groups=2, dilation=(1, 2)),
     [(2, 4, 3, 4), (4, 3, 2, 3)]),
    ("conv_transpose2d unbatched", lambda f, x, w, b: f.conv_transpose2d(x, w, b, stride=3),
     [(2, 3, 2), (2, 3, 2, 2), (3,)]),
    ("conv_transpose1d", lambda f, x, w, b: f.conv_transpose1d(x, w, b, 2, 1, 1, 2, 2),
     [(2, 4, 5), (4, 3, 3), (6,)]),
]


@pytest.mark.parametrize("case", FUNCTIONAL, ids=[c[0] for c in FUNCTIONAL])
def test_functional_parity(case):
    _, call, shapes = case
    compare_forward_backward(lambda *a: call(F, *a), lambda *a: call(TF, *a), _tensors(*shapes))


# Input 4x4, kernel 3, stride (2, 3), padding 1: output sizes 7..8 and 10..12 are valid.
@pytest.mark.parametrize("output_size", [(8, 11), [7, 12], (2, 2, 8, 10)])
def test_conv_transpose2d_output_size(output_size):
    k = nn.ConvTranspose2d(3, 2, 3, stride=(2, 3), padding=1)
    t = torch.nn.ConvTranspose2d(3, 2, 3, stride=(2, 3), padding=1).to(torch.float64)
    k.to(kiln.float64)
    k.load_state_dict({n: to_kiln(v) for n, v in t.state_dict().items()})
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    k_out = k(to_kiln(x), output_size=output_size)
    t_out = t(x, output_size=output_size)
    assert tuple(k_out.shape[2:]) == tuple(output_size[-2:])
    assert_close(k_out, t_out)


def test_conv2d_channels_last_input():
    """An NHWC-strided input (channels-last without kiln.channels_last: a permuted view) gives
    torch's values, gradients and channels-last output strides."""
    k, t = nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
    k.to(kiln.float64)
    t.to(torch.float64)
    k.load_state_dict({n: to_kiln(v) for n, v in t.state_dict().items()})
    nhwc = torch.randn(2, 5, 6, 3, dtype=torch.float64)
    t_x = nhwc.permute(0, 3, 1, 2).requires_grad_()
    k_x = to_kiln(nhwc).permute(0, 3, 1, 2).requires_grad_()
    assert tuple(k_x.stride()) == tuple(t_x.stride()) == (90, 1, 18, 3)
    t_out, k_out = t(t_x), k(k_x)
    assert_close(k_out, t_out)
    assert t_out.is_contiguous(memory_format=torch.channels_last)
    assert tuple(k_out.stride()) == tuple(t_out.stride())
    upstream = torch.randn(t_out.shape, dtype=torch.float64)
    t_out.backward(upstream)
    k_out.backward(to_kiln(upstream))
    assert_close(k_x.grad, t_x.grad)
    assert_close(k.weight.grad, t.weight.grad)
    assert_close(k.bias.grad, t.bias.grad)


def test_conv_transpose_output_size_errors():
    m = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    x = kiln.randn(1, 3, 4, 4)  # valid output sizes: 7 and 8 per dim
    with pytest.raises(ValueError, match=r"requested an output size of \[9, 7\], but valid "
                                         r"sizes range from \[7, 7\] to \[8, 8\]"):
        m(x, output_size=[9, 7])
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
        m(x, output_size=[8])
    m1 = nn.ConvTranspose1d(3, 2, 3, stride=2)
    assert tuple(m1(kiln.randn(3, 4), output_size=[10]).shape) == (2, 10)
    with pytest.raises(ValueError, match="output_size must have 1 or 2 elements"):
        m1(kiln.randn(3, 4), output_size=[1, 2, 10])


def test_conv2d_refactor_keeps_initialisation_order():
    """Conv2d (now on _ConvNd) draws the weight and then the bias from the global generator,
    as before and as torch's reset_parameters does."""
    kiln.manual_seed(7)
    conv = nn.Conv2d(4, 6, 3, groups=2)
    kiln.manual_seed(7)
    w, b = kiln.empty(6, 2, 3, 3), kiln.empty(6)
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    nn.init.uniform_(b, -1 / math.sqrt(18), 1 / math.sqrt(18))
    np.testing.assert_array_equal(conv.weight.detach().numpy(), w.numpy())
    np.testing.assert_array_equal(conv.bias.detach().numpy(), b.numpy())


@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Conv1d(6, 8, 5, groups=2), 15),
    (lambda: nn.Conv3d(4, 8, 3), 108),
    (lambda: nn.ConvTranspose2d(8, 6, 3, groups=2), 27),  # fan_in from weight.size(1) = 6 / 2
    (lambda: nn.ConvTranspose1d(4, 10, 7), 70),
])
def test_default_initialisation_bounds(make, fan_in):
    conv = make()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) and the bias bound agree
    weight, bias = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    # Hundreds of draws: the largest is within 10 % of the bound (chance of failing < 1e-10).
    assert bound * 0.9 < np.abs(weight).max() <= bound
    assert np.abs(bias).max() <= bound


def test_module_options_and_device_dtype():
    m = nn.ConvTranspose2d(2, 4, (3, 1), stride=2, dtype=kiln.float64)
    assert m.weight.dtype is kiln.float64 and m.bias.dtype is kiln.float64
    assert (m.transposed, m.output_padding, m.kernel_size) == (True, (0, 0), (3, 1))
    c = nn.Conv3d(2, 2, 3, padding="same", dilation=(1, 2, 1), padding_mode="reflect")
    t = torch.nn.Conv3d(2, 2, 3, padding="same", dilation=(1, 2, 1), padding_mode="reflect")
    assert list(c._reversed_padding_repeated_twice) == list(t._reversed_padding_repeated_twice)
    assert isinstance(c, nn.Module) and c.padding == "same" and c.stride == (1, 1, 1)


def test_module_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.ConvTranspose2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        nn.Conv3d(3, 3, 3, groups=0)
    with pytest.raises(ValueError, match="not supported for strided convolutions"):
        nn.Conv3d(3, 3, 3, stride=(1, 2, 1), padding="same")
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        nn.Conv1d(3, 3, 3, padding="full")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 3, 3, padding_mode="zero")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for '
                                         'ConvTranspose2d'):
        nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="conv1d"):
        nn.Conv1d(3, 4, 3)(kiln.randn(1, 2, 5))
    # torch refuses circular padding of an unbatched input too (F.pad pads only spatial dims).
    with pytest.raises(ValueError, match="circular"):
        nn.Conv1d(2, 2, 3, padding=1, padding_mode="circular")(kiln.randn(2, 5))


def _x(*shape):
    return kiln.randn(*shape)


FUNCTIONAL_ERRORS = [
    # (call, exception type, message pattern)
    (lambda: F.conv1d(_x(1, 3, 5), _x(4, 4, 3)), ValueError,
     r"conv1d: input has 3 channels but weight expects 4 \(groups=1\)"),
    (lambda: F.conv3d(_x(1, 4, 3, 3, 3), _x(4, 1, 3, 3, 3), groups=2), ValueError,
     r"conv3d: input has 4 channels but weight expects 2 \(groups=2\)"),
    (lambda: F.conv3d(_x(1, 2, 2, 4, 4), _x(3, 2, 3, 3, 3)), ValueError,
     r"conv3d: output size 0x2x2 is too small \(input 2x4x4, kernel 3x3x3, stride 1, padding 0, "
     r"dilation 1\)"),
    (lambda: F.conv1d(_x(1, 2, 4), _x(3, 2, 3), dilation=2), ValueError,
     r"conv1d: output size 0 is too small \(input 4, kernel 3, stride 1, padding 0, dilation 2\)"),
    (lambda: F.conv3d(_x(1, 2, 4, 4), _x(3, 2, 3, 3, 3)), ValueError, r"conv3d"),
    (lambda: F.conv1d(_x(1, 2, 6), _x(3, 2, 3), stride=2, padding="same"), ValueError,
     r"conv1d: .*strided"),
    (lambda: F.conv3d(_x(1, 2, 4, 4, 4), _x(3, 2, 3, 3, 3), padding="full"), ValueError,
     r"conv3d: .*'full'"),
    (lambda: F.conv3d(_x(1, 2, 4, 4, 4), _x(3, 2, 3, 3, 3), stride=(1, 2)), ValueError,
     r"conv3d stride: expected an int or 3 ints, got 2 values"),
    (lambda: F.conv1d(_x(1, 2, 4), _x(3, 2, 3), stride=1.5), TypeError, r"conv1d stride"),
    (lambda: F.conv1d(_x(1, 2, 4), _x(3, 2, 3), _x(4)), ValueError, r"conv1d: .*bias"),
    (lambda: F.conv_transpose2d(_x(1, 3, 4, 4), _x(4, 2, 3, 3)), ValueError,
     r"conv_transpose2d: .*3 channels"),
    (lambda: F.conv_transpose2d(_x(1, 4, 4, 4), _x(4, 2, 3, 3), stride=2, output_padding=2),
     ValueError, r"conv_transpose2d: .*output_padding"),
    (lambda: F.conv_transpose2d(_x(1, 4, 4, 4), _x(4, 2, 3, 3), padding="same"), TypeError,
     r"conv_transpose2d padding"),
    (lambda: F.conv_transpose1d(_x(1, 3, 4), _x(4, 2, 3)), ValueError,
     r"conv_transpose1d: input has 3 channels but weight expects 4 \(groups=1\); input "
     r"\[1, 3, 4\], weight \[4, 2, 3\]"),
    (lambda: F.conv_transpose1d(_x(1, 4, 2), _x(4, 2, 3), padding=3), ValueError,
     r"conv_transpose1d: output size -2 is too small \(input 2, kernel 3, stride 1, padding 3, "
     r"dilation 1, output_padding 0\)"),
    (lambda: F.conv_transpose1d(_x(1, 4, 2), _x(4, 2, 3), stride=2, output_padding=2),
     ValueError, r"conv_transpose1d: output padding must be smaller than either stride or "
                 r"dilation, got output_padding 2, stride 2, dilation 1"),
    (lambda: F.conv_transpose1d(_x(1, 4, 2, 2), _x(4, 2, 3)), ValueError,
     r"conv_transpose1d: expected a 2-D \(unbatched\) or 3-D \(batched\) input"),
]


@pytest.mark.parametrize("call, error, pattern", FUNCTIONAL_ERRORS)
def test_functional_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def _rand64(*shape):
    return kiln.randn(*shape, dtype=kiln.float64, requires_grad=True)


GRADCHECKS = [
    ("conv1d", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2),
     [(2, 4, 7), (2, 2, 3), (2,)]),
    ("conv3d", lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding="valid", groups=1),
     [(1, 2, 3, 4, 3), (2, 2, 2, 2, 2), (2,)]),
    ("conv_transpose2d",
     lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                        groups=2, dilation=(1, 2)),
     [(1, 4, 3, 2), (4, 1, 2, 3), (2,)]),
    ("conv_transpose1d", lambda x, w: F.conv_transpose1d(x, w, None, 3, 1, 2, 1, 1),
     [(2, 2, 3), (2, 3, 3)]),
]


@pytest.mark.parametrize("case", GRADCHECKS, ids=[c[0] for c in GRADCHECKS])
def test_gradcheck_float64(case):
    _, fn, shapes = case
    assert kiln.autograd.gradcheck(fn, tuple(_rand64(*s) for s in shapes))
