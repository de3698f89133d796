"""kiln.cuda: whether a GPU is usable and how many (kiln::cuda::device_count in C++)."""
from . import _C


def is_available():
    return _C._cuda_device_count() > 0


def device_count():
    return _C._cuda_device_count()
