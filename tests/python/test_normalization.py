"""BatchNorm1d/2d/3d, InstanceNorm2d, GroupNorm and F.batch_norm / group_norm / instance_norm vs
PyTorch 1.13 (float32 and float64): outputs, input and parameter gradients, running statistics
(momentum, momentum=None, num_batches_tracked) over several training steps, eval mode, reprs,
state_dict keys / shapes / dtypes, error messages."""
import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from parity import assert_close, to_kiln
from test_nn_support import FLOAT_DTYPES, compare_forward_backward, compare_modules, torch_dtype

TF = torch.nn.functional


def atol(dtype):
    # float32: normalised values and their gradients are O(1) sums over the batch.
    return 1e-5 if dtype is kiln.float32 else None


def assert_same_state(k, t, dtype):
    ks, ts = k.state_dict(), t.state_dict()
    assert list(ks) == list(ts)
    for name in ts:
        assert tuple(ks[name].shape) == tuple(ts[name].shape), name
        assert_close(ks[name], ts[name], atol=atol(dtype), msg=name)


BATCHNORMS = [
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3), {}),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (3, 3, 5), dict(momentum=None)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (2, 3, 4, 3), {}),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (2, 3, 2, 3), dict(affine=False, eps=1e-3)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (2, 3, 2, 2), dict(track_running_stats=False)),
    (nn.BatchNorm3d, torch.nn.BatchNorm3d, (2, 3, 2, 2, 3), dict(momentum=0.3)),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("kcls,tcls,shape,options", BATCHNORMS)
def test_batchnorm_modules(kcls, tcls, shape, options, dtype):
    torch.manual_seed(0)
    k, t = kcls(3, **options), tcls(3, **options)
    assert repr(k) == repr(t)
    if t.affine:
        with torch.no_grad():
            t.weight.uniform_(0.5, 1.5)
            t.bias.uniform_(-0.5, 0.5)
    # Three training steps (running stats accumulate; momentum None: cumulative average).
    for step in range(3):
        x = torch.randn(shape) * 2 + step
        compare_modules(k, t, x, dtype=dtype, atol=atol(dtype))
        assert_same_state(k, t, dtype)
        k.zero_grad()
        t.zero_grad()
    if t.track_running_stats:
        assert k.num_batches_tracked.dtype is kiln.int64
        assert k.num_batches_tracked.item() == 3
    k.eval()
    t.eval()
    compare_modules(k, t, torch.randn(shape), dtype=dtype, atol=atol(dtype))
    assert_same_state(k, t, dtype)


def test_batchnorm_state_dict_and_errors():
    k, t = nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)
    ks, ts = k.state_dict(), t.state_dict()
    assert list(ks) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(ks) == list(ts)
    for name in ts:
        assert tuple(ks[name].shape) == tuple(ts[name].shape)
        np.testing.assert_array_equal(ks[name].numpy(), ts[name].numpy())
    assert ks["num_batches_tracked"].dtype is kiln.int64
    assert list(nn.BatchNorm1d(2, affine=False, track_running_stats=False).state_dict()) == []
    assert repr(nn.BatchNorm1d(2, momentum=None)) == repr(torch.nn.BatchNorm1d(2, momentum=None))
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        k(kiln.randn(4, 2, 2))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(2)(kiln.randn(2, 2, 2, 2))
    with pytest.raises(ValueError, match=r"expected 5D input \(got 4D input\)"):
        nn.BatchNorm3d(2)(kiln.randn(2, 2, 2, 2))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(kiln.randn(1, 3))
    with pytest.raises(ValueError, match="running_mean should contain 3 elements not 4"):
        k(kiln.randn(2, 3, 2, 2))
    # In eval a single sample is fine.
    k.eval()
    assert tuple(k(kiln.randn(1, 4, 1, 1)).shape) == (1, 4, 1, 1)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_functional_batch_norm(dtype):
    torch.manual_seed(1)
    td = torch_dtype(dtype)
    x = torch.randn(3, 4, 5, dtype=td)
    w, b = torch.rand(4, dtype=td) + 0.5, torch.randn(4, dtype=td)
    for training in (True, False):
        t_rm, t_rv = torch.randn(4, dtype=td), torch.rand(4, dtype=td) + 0.5
        k_rm, k_rv = to_kiln(t_rm), to_kiln(t_rv)
        compare_forward_backward(
            lambda a, c, d: F.batch_norm(a, k_rm, k_rv, c, d, training, 0.2, 1e-4),
            lambda a, c, d: TF.batch_norm(a, t_rm, t_rv, c, d, training, 0.2, 1e-4),
            [x, w, b], atol=atol(dtype))
        assert_close(k_rm, t_rm, atol=atol(dtype), msg="running_mean")
        assert_close(k_rv, t_rv, atol=atol(dtype), msg="running_var")
    # No running statistics, no affine (keywords as torch's).
    compare_forward_backward(
        lambda a: F.batch_norm(a, None, None, training=True, eps=1e-3),
        lambda a: TF.batch_norm(a, None, None, training=True, eps=1e-3), [x], atol=atol(dtype))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("groups,shape", [(1, (2, 4, 3)), (2, (2, 4, 3, 2)), (4, (3, 4, 2)),
                                          (3, (2, 6, 2, 2, 2))])
def test_group_norm(groups, shape, dtype):
    torch.manual_seed(2)
    td = torch_dtype(dtype)
    x = torch.randn(shape, dtype=td)
    c = shape[1]
    w, b = torch.rand(c, dtype=td) + 0.5, torch.randn(c, dtype=td)
    # float32: with a few elements per group the input gradient is a near-cancellation of O(1)
    # terms (|difference| ~ 2e-5 seen against torch's kernel), hence the looser atol.
    tol = 1e-4 if dtype is kiln.float32 else None
    compare_forward_backward(lambda a, u, v: F.group_norm(a, groups, u, v, 1e-4),
                             lambda a, u, v: TF.group_norm(a, groups, u, v, 1e-4), [x, w, b],
                             atol=tol)
    compare_forward_backward(lambda a: F.group_norm(a, groups),
                             lambda a: TF.group_norm(a, groups), [x], atol=tol)
    for affine in (True, False):
        k, t = nn.GroupNorm(groups, c, affine=affine), torch.nn.GroupNorm(groups, c, affine=affine)
        assert repr(k) == repr(t)
        assert list(k.state_dict()) == list(t.state_dict())
        compare_modules(k, t, x, dtype=dtype, atol=tol)


def test_group_norm_errors():
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="Expected number of channels in input to be divisible"):
        F.group_norm(kiln.randn(2, 6, 3), 4)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_functional_instance_norm(dtype):
    torch.manual_seed(3)
    td = torch_dtype(dtype)
    x = torch.randn(3, 4, 2, 3, dtype=td)
    w, b = torch.rand(4, dtype=td) + 0.5, torch.randn(4, dtype=td)
    for use_input_stats in (True, False):
        t_rm, t_rv = torch.randn(4, dtype=td), torch.rand(4, dtype=td) + 0.5
        k_rm, k_rv = to_kiln(t_rm), to_kiln(t_rv)
        compare_forward_backward(
            lambda a, c, d: F.instance_norm(a, k_rm, k_rv, c, d, use_input_stats, 0.3, 1e-4),
            lambda a, c, d: TF.instance_norm(a, t_rm, t_rv, c, d, use_input_stats, 0.3, 1e-4),
            [x, w, b], atol=atol(dtype))
        assert_close(k_rm, t_rm, atol=atol(dtype), msg="running_mean")
        assert_close(k_rv, t_rv, atol=atol(dtype), msg="running_var")
    compare_forward_backward(F.instance_norm, TF.instance_norm, [x[:, :, 0]], atol=atol(dtype))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("options", [{}, dict(affine=True), dict(track_running_stats=True),
                                     dict(affine=True, track_running_stats=True, momentum=0.5)])
def test_instance_norm2d(options, dtype):
    torch.manual_seed(4)
    k, t = nn.InstanceNorm2d(3, **options), torch.nn.InstanceNorm2d(3, **options)
    assert repr(k) == repr(t)
    assert list(k.state_dict()) == list(t.state_dict())
    if t.affine:
        with torch.no_grad():
            t.weight.uniform_(0.5, 1.5)
            t.bias.uniform_(-0.5, 0.5)
    for step in range(2):
        compare_modules(k, t, torch.randn(2, 3, 3, 4) + step, dtype=dtype, atol=atol(dtype))
        assert_same_state(k, t, dtype)
        k.zero_grad()
        t.zero_grad()
    compare_modules(k, t, torch.randn(3, 2, 5), dtype=dtype, atol=atol(dtype))  # unbatched
    k.eval()
    t.eval()
    compare_modules(k, t, torch.randn(2, 3, 3, 4), dtype=dtype, atol=atol(dtype))


def test_instance_norm_errors():
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.InstanceNorm2d(3)(kiln.randn(2, 3))
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features"):
        nn.InstanceNorm2d(3, affine=True)(kiln.randn(2, 4, 2, 2))
    with pytest.raises(ValueError, match="Expected more than 1 spatial element when training"):
        F.instance_norm(kiln.randn(2, 3, 1, 1))
