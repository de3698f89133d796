"""DLPack interchange with PyTorch and NumPy: torch.from_dlpack(kiln_tensor) and
kiln.from_dlpack(torch_tensor) share memory and keep values, dtypes and strides."""
import numpy as np
import pytest
import torch

import kiln
from parity import TORCH_DTYPE

DTYPES = [torch.uint8, torch.int32, torch.int64, torch.float16, torch.bfloat16, torch.float32,
          torch.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_torch_to_kiln_and_back(dtype):
    t = torch.arange(12).reshape(3, 4).to(dtype)
    k = kiln.from_dlpack(t)
    assert TORCH_DTYPE[k.dtype] == dtype and k.shape == (3, 4) and k.stride() == t.stride()
    assert k.data_ptr() == t.data_ptr()
    back = torch.from_dlpack(k)
    assert back.dtype == dtype and back.data_ptr() == t.data_ptr()
    assert torch.equal(back, t)


def test_strided_views_keep_their_strides():
    t = torch.arange(24.0).reshape(4, 6)[::2, 1::2].t()
    k = kiln.from_dlpack(t)
    assert k.stride() == t.stride() and k.tolist() == t.tolist()
    kv = kiln.arange(24.0).reshape(4, 6)[:, ::3].t()
    tv = torch.from_dlpack(kv)
    assert tv.stride() == kv.stride() and tv.tolist() == kv.tolist()


def test_memory_is_shared_both_ways():
    base = torch.zeros(3)
    k = kiln.from_dlpack(base)
    k[0] = 5
    assert base[0].item() == 5
    kt = kiln.zeros(2, 2)
    tt = torch.from_dlpack(kt)
    tt[1, 1] = 7
    assert kt[1, 1].item() == 7
    capsule = kiln.arange(3.0).__dlpack__()
    assert torch.utils.dlpack.from_dlpack(capsule).tolist() == [0.0, 1.0, 2.0]


def test_numpy_from_dlpack_and_device():
    assert np.from_dlpack(kiln.arange(3)).tolist() == [0, 1, 2]
    assert kiln.from_dlpack(np.arange(4.0)).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert kiln.tensor(1.0).__dlpack_device__() == (1, 0)


def test_refusals():
    with pytest.raises(RuntimeError, match="requires grad"):
        kiln.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(RuntimeError, match="Bool"):  # torch 1.13 cannot export bool
        kiln.from_dlpack(torch.ones(2, dtype=torch.bool))
    with pytest.raises(TypeError, match="DLPack"):
        kiln.from_dlpack(object())


def test_read_only_memory_is_copied_not_shared():
    """A tensor over read-only memory could be written and crash the process: it is a copy."""

    b = bytes(b"hello")
    t = kiln.from_dlpack(b)
    t[0] = 105
    assert b == b"hello" and t[0].item() == 105
    a = np.arange(4.0)
    a.setflags(write=False)
    kiln.from_dlpack(a).add_(1)
    np.testing.assert_array_equal(a, np.arange(4.0))


def test_writable_memory_is_shared():

    a = np.arange(4.0)
    kiln.from_dlpack(a).add_(1)
    np.testing.assert_array_equal(a, np.arange(4.0) + 1)
