"""Grad mode: kiln.no_grad, kiln.enable_grad, kiln.set_grad_enabled (context managers and
decorators, like torch's)."""
import functools

from . import _C


def is_grad_enabled():
    return _C.is_grad_enabled()


class _GradModeContext:
    _enabled = None

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self._enabled)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Ops inside record no history (evaluation, optimizer updates)."""
    _enabled = False


class enable_grad(_GradModeContext):
    """Turns history recording back on inside a no_grad region."""
    _enabled = True


class set_grad_enabled(_GradModeContext):
    """set_grad_enabled(False) as a call sets the mode; as a context manager it restores it."""

    def __init__(self, mode):
        self._enabled = bool(mode)
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self._enabled)

    def __enter__(self):
        pass

    def __call__(self, fn):
        mode = self._enabled
        _C._set_grad_enabled(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper
