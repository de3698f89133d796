"""Small helpers shared across the package."""


def typename(obj):
    """The name of obj's type for error messages, as torch.typename: 'int', 'kiln.Tensor'."""
    cls = type(obj)
    if cls.__module__ in ("builtins", None):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
