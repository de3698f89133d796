"""kiln.nn.Parameter: a tensor that a Module registers as one of its parameters."""
from .. import _C
from .._tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that, assigned as a Module attribute, becomes one of its parameters.

    Parameter(data) shares data's storage (as torch's does) but is a new leaf, so it has no
    history even when `data` has; requires_grad defaults to True.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _C._empty([0], None, None, False)
        elif not isinstance(data, Tensor):
            raise TypeError(f"Parameter: expected a Tensor as data, got {type(data).__name__}")
        super().__init__(data.detach())
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(self.data.clone(), self.requires_grad)
        memo[id(self)] = result
        return result
