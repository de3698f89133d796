"""The package imports from a checkout and basic tensor round trips hold."""
import numpy as np

import kiln


def test_import_and_version():
    assert kiln.__version__
    assert kiln.Tensor is kiln._C.Tensor


def test_tensor_from_list_and_back():
    t = kiln.tensor([[1.5, 2.0], [3.0, 4.25]])
    assert t.dtype is kiln.float32
    assert t.shape == (2, 2) and isinstance(t.shape, kiln.Size)
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.25]]
    np.testing.assert_array_equal(t.numpy(), np.array([[1.5, 2.0], [3.0, 4.25]], np.float32))
