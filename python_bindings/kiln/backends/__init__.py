"""kiln.backends: settings of the compute backends, named as in torch.backends."""
from . import cuda, cudnn  # noqa: F401
