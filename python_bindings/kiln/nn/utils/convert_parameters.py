"""parameters_to_vector / vector_to_parameters (torch.nn.utils.convert_parameters)."""
from ... import _C
from ..._tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """One 1-D tensor of every parameter, flattened and concatenated (differentiable)."""
    return _C.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Sets each parameter's data to its slice of the 1-D tensor vec (the reverse of
    parameters_to_vector); the parameters share vec's storage afterwards, as in torch."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected kiln.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    for param in parameters:
        num_param = param.numel()
        param.data = vec[pointer:pointer + num_param].view_as(param).data
        pointer += num_param
