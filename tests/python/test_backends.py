"""kiln.backends.cuda.matmul.allow_tf32: torch.backends' switch, shared with C++
(kiln::cuda::set_allow_tf32). Get/set work without a GPU; the effect on float32 products is
checked where there is one."""
import numpy as np
import pytest
import torch

import kiln
import kiln.backends  # noqa: F401  (also reachable as kiln.backends once kiln imports it)


@pytest.fixture
def restore_tf32():
    saved = kiln.backends.cuda.matmul.allow_tf32
    yield
    kiln.backends.cuda.matmul.allow_tf32 = saved


def test_default_is_off_like_torch(restore_tf32):
    # Nothing in this process has turned it on unless a test forgot to restore it.
    assert kiln.backends.cuda.matmul.allow_tf32 is False
    assert kiln.backends.cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32


def test_set_and_get(restore_tf32):
    kiln.backends.cuda.matmul.allow_tf32 = True
    assert kiln.backends.cuda.matmul.allow_tf32 is True
    assert kiln._C._get_allow_tf32() is True  # the C++ switch itself
    kiln.backends.cuda.matmul.allow_tf32 = False
    assert kiln.backends.cuda.matmul.allow_tf32 is False
    assert kiln._C._get_allow_tf32() is False
    assert "allow_tf32=False" in repr(kiln.backends.cuda.matmul)


def test_rejects_non_bool_and_unknown_settings(restore_tf32):
    with pytest.raises(TypeError, match="bool"):
        kiln.backends.cuda.matmul.allow_tf32 = 1
    assert kiln.backends.cuda.matmul.allow_tf32 is False
    with pytest.raises(AttributeError):
        kiln.backends.cuda.matmul.allow_fp64_magic = True


def test_is_built_is_consistent_with_devices():
    built = kiln.backends.cuda.is_built()
    assert isinstance(built, bool)
    if kiln.cuda.is_available():
        assert built


@pytest.mark.skipif(not kiln.cuda.is_available(), reason="no CUDA device: TF32 effect not checked")
def test_tf32_changes_float32_products(restore_tf32):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256)).astype(np.float32)
    b = rng.standard_normal((256, 256)).astype(np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    ka, kb = kiln.from_numpy(a).to("cuda"), kiln.from_numpy(b).to("cuda")

    def rel_err():
        out = (ka @ kb).cpu().numpy().astype(np.float64)
        return np.abs(out - ref).max() / np.abs(ref).max()

    kiln.backends.cuda.matmul.allow_tf32 = False
    err_off = rel_err()
    kiln.backends.cuda.matmul.allow_tf32 = True
    err_on = rel_err()
    assert err_off <= 1e-5
    assert err_on <= 1e-2
    assert err_on > 4 * err_off
