"""NumPy interchange: Tensor.numpy() and np.asarray(t) share the tensor's memory (writes go both
ways), kiln.from_numpy shares the array's memory, non-contiguous layouts keep their strides,
every dtype maps to its NumPy twin, and the refusals match torch's (bfloat16, requires_grad)."""
import gc

import numpy as np
import pytest
import torch

import kiln

PAIRS = [(kiln.bool, np.bool_), (kiln.uint8, np.uint8), (kiln.int32, np.int32),
         (kiln.int64, np.int64), (kiln.float16, np.float16), (kiln.float32, np.float32),
         (kiln.float64, np.float64)]


@pytest.mark.parametrize("kd,nd", PAIRS, ids=str)
def test_numpy_dtypes_both_ways(kd, nd):
    t = kiln.tensor([[0, 1, 1], [1, 0, 1]], dtype=kd)
    a = t.numpy()
    assert a.dtype == nd and a.shape == (2, 3)
    np.testing.assert_array_equal(a, np.array([[0, 1, 1], [1, 0, 1]], dtype=nd))
    back = kiln.from_numpy(a)
    assert back.dtype is kd and back.data_ptr() == t.data_ptr()


def test_numpy_shares_memory_and_writes_go_both_ways():
    t = kiln.arange(6.0).reshape(2, 3)
    a = t.numpy()
    a[0, 0] = 100
    assert t[0, 0].item() == 100
    t[1, 2] = -5
    assert a[1, 2] == -5
    b = np.asarray(t)
    b[0, 1] = 50
    assert t[0, 1].item() == 50 and np.shares_memory(a, b)


def test_numpy_of_views_keeps_strides():
    t = kiln.arange(12.0).reshape(3, 4)
    for view, expected in [(t.t(), np.arange(12.0).reshape(3, 4).T),
                           (t[:, ::2], np.arange(12.0).reshape(3, 4)[:, ::2]),
                           (t[1], np.arange(4.0, 8.0)),
                           (t[:1].expand(3, 4), np.tile(np.arange(4.0), (3, 1)))]:
        a = view.numpy()
        np.testing.assert_array_equal(a, expected)
        assert a.strides == tuple(s * 4 for s in view.stride())
    assert kiln.zeros(0, 3).numpy().shape == (0, 3)
    assert kiln.tensor(3.5).numpy().shape == () and kiln.tensor(3.5).numpy() == 3.5


def test_from_numpy_shares_memory_and_strides():
    n = np.arange(12.0).reshape(3, 4)[:, ::2]
    k = kiln.from_numpy(n)
    assert k.shape == (3, 2) and k.stride() == (4, 2) and k.dtype is kiln.float64
    n[0, 0] = 7
    assert k[0, 0].item() == 7
    k[1, 1] = -1
    assert n[1, 1] == -1
    f = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert kiln.from_numpy(f).stride() == (1, 2)
    assert kiln.from_numpy(f).tolist() == f.tolist()


def test_memory_outlives_the_other_side():
    a = kiln.arange(5.0).numpy()
    gc.collect()
    np.testing.assert_array_equal(a, np.arange(5.0))
    k = kiln.from_numpy(np.arange(5.0) * 2)
    gc.collect()
    assert k.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_refusals_match_torch():
    with pytest.raises(TypeError, match="bfloat16"):
        kiln.ones(2, dtype=kiln.bfloat16).numpy()
    with pytest.raises(RuntimeError, match="detach"):
        kiln.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError):
        torch.ones(2, requires_grad=True).numpy()
    np.testing.assert_array_equal(kiln.ones(2, requires_grad=True).numpy(force=True), [1, 1])
    assert kiln.ones(2, dtype=kiln.bfloat16).numpy(force=True).dtype == np.float32
    with pytest.raises(ValueError, match="negative stride"):
        kiln.from_numpy(np.arange(5)[::-1])
    with pytest.raises(TypeError, match="ndarray"):
        kiln.from_numpy([1, 2])
    with pytest.raises(TypeError, match="dtype"):
        kiln.from_numpy(np.array([1, 2], dtype=np.int16))


def test_read_only_array_is_copied_with_a_warning():
    ro = np.arange(3.0)
    ro.flags.writeable = False
    with pytest.warns(UserWarning, match="read-only"):
        k = kiln.from_numpy(ro)
    k[0] = 5.0  # writes to the copy; the read-only memory is untouched
    assert ro[0] == 0.0


def test_asarray_with_dtype_and_tolist_item():
    t = kiln.tensor([1.5, 2.5])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.array(t).tolist() == [1.5, 2.5]
    assert kiln.ones(2, dtype=kiln.bfloat16).tolist() == [1.0, 1.0]
