"""Type promotion against PyTorch: every pair of dtypes, dimensioned and 0-d tensor operands,
and Python bool/int/float numbers on either side, through functions and operators. Where torch
refuses a combination (e.g. subtracting bools), Kiln must refuse it too."""
import numpy as np
import pytest
import torch

import kiln
from parity import TORCH_DTYPE

KILN_DTYPES = [kiln.bool, kiln.uint8, kiln.int32, kiln.int64, kiln.float16, kiln.bfloat16,
               kiln.float32, kiln.float64]

OPS = {
    "add": lambda a, b: a + b,
    "radd": lambda a, b: b + a,
    "sub": lambda a, b: a - b,
    "rsub": lambda a, b: b - a,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "rdiv": lambda a, b: b / a,
    "floordiv": lambda a, b: a // b,
    "mod": lambda a, b: a % b,
    "pow": lambda a, b: a ** b,
    "lt": lambda a, b: a < b,
    "eq": lambda a, b: a == b,
}
# torch 1.13 has no bool kernels for these; Kiln computes them (in bool), which is no conflict.
BOOL_KERNELS_TORCH_LACKS = {"pow", "mod", "floordiv"}
FUNCTIONS = ["maximum", "minimum", "where", "add_alpha"]


def _values(kd, shape):
    """Small positive values that every dtype holds exactly (no division by zero)."""
    a = np.arange(1, 1 + int(np.prod(shape))).reshape(shape) % 3 + 1
    if kd is kiln.bool:
        a = a % 2 == 1
    t = torch.from_numpy(np.asarray(a)).to(TORCH_DTYPE[kd])
    return t


def _kiln(t):
    if t.dtype == torch.bfloat16:
        return kiln.tensor(t.float().numpy()).to(kiln.bfloat16)
    return kiln.tensor(t.numpy())


def _operand(kind, kd):
    """(kiln operand, torch operand) of a kind: a [2, 3] or 0-d tensor of dtype kd, or a number."""
    if kind == "tensor":
        t = _values(kd, (2, 3))
        return _kiln(t), t
    if kind == "0d":
        t = _values(kd, ())
        return _kiln(t), t
    return kind, kind  # a Python number


def _apply(name, a, b, lib):
    if name in OPS:
        return OPS[name](a, b)
    if name == "where":
        cond = (torch.tensor([[True, False, True], [False, True, False]]) if lib is torch else
                kiln.tensor([[True, False, True], [False, True, False]]))
        return lib.where(cond, a, b)
    if name == "add_alpha":
        return lib.add(a, b, alpha=2)
    return getattr(lib, name)(a, b)


def _compare(name, ka, kb, ta, tb, failures):
    try:
        expected = _apply(name, ta, tb, torch)
    except (RuntimeError, TypeError, ZeroDivisionError):
        expected = None
    try:
        got = _apply(name, ka, kb, kiln)
    except (RuntimeError, TypeError, ValueError) as e:
        if expected is not None:
            failures.append(f"{name}: kiln raised {type(e).__name__}: {e}")
        return
    if expected is None:
        if not (name in BOOL_KERNELS_TORCH_LACKS and ka.dtype is kiln.bool and
                getattr(kb, "dtype", kiln.bool) is kiln.bool):
            failures.append(f"{name}: torch refuses, kiln gave {got.dtype}")
        return
    if TORCH_DTYPE[got.dtype] != expected.dtype:
        failures.append(f"{name}: dtype {got.dtype} != {expected.dtype}")
        return
    k = got.float().numpy() if got.dtype is kiln.bfloat16 else got.numpy()
    t = expected.float().numpy() if expected.dtype == torch.bfloat16 else expected.numpy()
    if not np.allclose(k.astype(np.float64), t.astype(np.float64), rtol=1e-2, atol=1e-2,
                       equal_nan=True):
        failures.append(f"{name}: values {k.tolist()} != {t.tolist()}")


@pytest.mark.parametrize("left", KILN_DTYPES, ids=str)
def test_tensor_with_tensor(left):
    failures = []
    for right in KILN_DTYPES:
        for kind in ["tensor", "0d"]:
            ka, ta = _operand("tensor", left)
            kb, tb = _operand(kind, right)
            for name in list(OPS) + FUNCTIONS:
                n = len(failures)
                _compare(name, ka, kb, ta, tb, failures)
                if len(failures) > n:
                    failures[-1] = f"{left} {kind} {right} " + failures[-1]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("left", KILN_DTYPES, ids=str)
def test_tensor_with_python_number(left):
    failures = []
    for number in [True, 2, 2.5]:
        for kind in ["tensor", "0d"]:
            ka, ta = _operand(kind, left)
            for name in OPS:
                n = len(failures)
                _compare(name, ka, number, ta, number, failures)
                if len(failures) > n:
                    failures[-1] = f"{left} {kind} with {number!r} " + failures[-1]
    assert not failures, "\n".join(failures)


def test_zero_dim_tensors_promote_by_category_only():
    x = kiln.ones(3, dtype=kiln.float16)
    assert (x + kiln.tensor(1.0, dtype=kiln.float64)).dtype is kiln.float16
    assert (x + kiln.ones(1, dtype=kiln.float64)).dtype is kiln.float64
    i = kiln.ones(3, dtype=kiln.int32)
    assert (i + kiln.tensor(1)).dtype is kiln.int32
    assert (i + kiln.tensor(1.0)).dtype is kiln.float32
    assert (kiln.tensor(1) + kiln.tensor(1.0, dtype=kiln.float64)).dtype is kiln.float64
