"""kiln.no_grad / enable_grad / set_grad_enabled as context managers, decorators and calls, with
torch's semantics: no history inside no_grad, restored mode on exit (also on exceptions)."""
import pytest

import kiln


def test_no_grad_context_and_nesting():
    x = kiln.ones(2, requires_grad=True)
    with kiln.no_grad():
        y = x * 2
        assert not kiln.is_grad_enabled()
        with kiln.enable_grad():
            z = x * 2
            assert kiln.is_grad_enabled()
        assert not kiln.is_grad_enabled()
    assert kiln.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_decorators():
    x = kiln.ones(2, requires_grad=True)

    @kiln.no_grad()
    def frozen(a):
        return a * 2

    @kiln.enable_grad()
    def tracked(a):
        return a * 2

    assert not frozen(x).requires_grad
    with kiln.no_grad():
        assert tracked(x).requires_grad
    assert frozen.__name__ == "frozen"


def test_set_grad_enabled_call_and_context():
    x = kiln.ones(2, requires_grad=True)
    with kiln.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert kiln.is_grad_enabled()
    kiln.set_grad_enabled(False)
    try:
        assert not kiln.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        kiln.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_mode_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with kiln.no_grad():
            1 / 0
    assert kiln.is_grad_enabled()
