"""Datasets the C++ library provides, as kiln.utils.data.TensorDataset objects.

    mnist(root, train=True)         MNIST or Fashion-MNIST idx files (gzip or raw) in `root`:
                                    images [N, 1, 28, 28] float32 in [0, 1], labels [N] int64
    synthetic_digits(n, seed=0)     n handwriting-like digits drawn in-process (no download)
"""
from . import _C


def _dataset(pair):
    from .utils.data import TensorDataset
    return TensorDataset(*pair)


def mnist(root, train=True):
    return _dataset(_C._datasets.load_mnist(str(root), train))


def synthetic_digits(n, seed=0):
    return _dataset(_C._datasets.synthetic_digits(n, seed))
