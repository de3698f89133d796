"""kiln.nn: Module and Parameter, layers, containers, losses, kiln.nn.functional,
kiln.nn.init and kiln.nn.utils, with torch.nn's names, signatures and reprs."""
from .parameter import Parameter
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from . import functional, init, utils  # noqa: F401
from .modules.sync_batchnorm import SyncBatchNorm  # noqa: F401
from . import parallel  # noqa: F401

__all__ = ["Parameter", "functional", "init", "utils", "parallel", "SyncBatchNorm"] + _modules_all
