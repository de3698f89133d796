"""The op functions of kiln._C under torch's names (kiln.exp, kiln.sum, kiln.cat, ...)."""
from . import _C

__all__ = [
    # elementwise
    "neg", "negative", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "absolute",
    "sign", "sin", "cos", "erf", "reciprocal", "square", "floor", "ceil", "round", "relu",
    "sigmoid", "tanh", "logical_not", "isnan", "isfinite", "add", "sub", "subtract", "mul",
    "multiply", "div", "divide", "true_divide", "pow", "minimum", "maximum", "floor_divide",
    "remainder", "eq", "ne", "not_equal", "lt", "le", "gt", "ge", "less", "less_equal",
    "greater", "greater_equal", "logical_and", "logical_or", "where", "clamp", "clip",
    "clamp_min", "clamp_max", "lerp", "equal", "allclose",
    # activations and dropout (torch keeps most of them in torch.nn.functional)
    "leaky_relu", "elu", "gelu", "silu", "softplus", "dropout",
    # reductions
    "sum", "mean", "prod", "var", "std", "amax", "amin", "max", "min", "argmax", "argmin",
    "logsumexp", "norm", "softmax", "log_softmax", "any", "all", "sum_to",
    # shape
    "reshape", "permute", "broadcast_to", "transpose", "swapaxes", "t", "narrow", "select",
    "squeeze", "unsqueeze", "flatten", "clone", "cat", "concat", "stack", "split", "chunk",
    "unbind",
    # linear algebra
    "matmul", "mm", "bmm", "outer", "dot", "linear",
    # indexing
    "index_select", "index_add", "gather", "scatter", "scatter_add", "masked_fill", "nonzero",
    "argwhere", "index_put", "embedding", "one_hot",
    # dtypes
    "promote_types", "result_type", "can_cast", "get_default_dtype",
]

globals().update({name: getattr(_C, name) for name in __all__})


def is_tensor(obj):
    return isinstance(obj, _C.Tensor)


def is_floating_point(input):
    return input.is_floating_point()


def numel(input):
    return input.numel()


__all__ += ["is_tensor", "is_floating_point", "numel"]
