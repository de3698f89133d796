"""Kiln: a deep learning framework with PyTorch's Python API.

Code written for `torch` runs with `import kiln as torch` for everything Kiln covers. The
tensor, its ops and autograd are C++ (kiln._C); modules, optimizers' Python faces, data loading
and the PyTorch-shaped signatures are in this package.
"""
from . import _extension

_C = _extension.load(__name__, __path__)

from ._tensor import Tensor, Size  # noqa: E402
from ._factories import *  # noqa: E402,F401,F403
from ._functions import *  # noqa: E402,F401,F403
from ._grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled  # noqa: E402

from ._C import (  # noqa: E402,F401
    dtype, device,
    bool, uint8, int32, int, int64, long, float16, half, bfloat16, float32, float, float64, double,
    manual_seed, initial_seed, from_numpy, from_dlpack, bernoulli,
    memory_format, contiguous_format, channels_last, channels_last_3d, preserve_format,
)

__version__ = "0.1.0"

from . import autograd, backends, nn, optim, utils, cuda, datasets, distributed, models  # noqa: E402,F401
from .utils.data.generator import Generator  # noqa: E402,F401
from .serialization import save, load  # noqa: E402,F401
