"""Bad calls raise Python exceptions that carry the C++ message: ValueError for bad shapes and
argument values, TypeError for wrong types and dtypes, IndexError for indexing, RuntimeError for
autograd misuse, each message naming the op. A batch of hostile calls run in a child interpreter
must leave it exiting normally (no abort, no segfault)."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kiln

X = kiln.zeros(2, 3)
B = kiln.zeros(2, 3, dtype=kiln.bool)
I = kiln.tensor([0, 5])

# (call, exception type, text the message must contain: the op's name)
CASES = [
    (lambda: kiln.add(X, kiln.zeros(4)), ValueError, "add"),
    (lambda: X + kiln.zeros(4), ValueError, "add"),
    (lambda: kiln.add(X, None), TypeError, "add"),
    (lambda: X + "a", TypeError, "+"),
    (lambda: kiln.mul(X, [1, 2]), TypeError, "mul"),
    (lambda: kiln.exp(None), TypeError, "exp"),
    (lambda: kiln.log("a"), TypeError, "log"),
    (lambda: kiln.matmul(X, X), ValueError, "matmul"),
    (lambda: X @ X, ValueError, "matmul"),
    (lambda: kiln.mm(kiln.zeros(3), X), ValueError, "mm"),
    (lambda: kiln.bmm(X, X), ValueError, "bmm"),
    (lambda: kiln.dot(kiln.zeros(3), kiln.zeros(4)), ValueError, "dot"),
    (lambda: kiln.outer(X, X), ValueError, "outer"),
    (lambda: kiln.linear(X, kiln.zeros(4, 5)), ValueError, "linear"),
    (lambda: X.sum(5), ValueError, "sum"),
    (lambda: X.sum("a"), TypeError, "sum"),
    (lambda: kiln.mean(X, (0, 0)), ValueError, "mean"),
    (lambda: kiln.mean(kiln.tensor([1, 2])), TypeError, "mean"),
    (lambda: kiln.softmax(X, 2), ValueError, "softmax"),
    (lambda: kiln.max(X, 4), ValueError, "max"),
    (lambda: X.var(3), ValueError, "var"),
    (lambda: X.prod(7), ValueError, "prod"),
    (lambda: kiln.argmax(X, 9), ValueError, "argmax"),
    (lambda: kiln.norm(X, "nuc"), ValueError, "norm"),
    (lambda: kiln.norm(X, [1]), TypeError, "norm"),
    (lambda: X.sum(dtype="float"), TypeError, "sum"),
    (lambda: X.softmax(0, dtype=1.5), TypeError, "softmax"),
    (lambda: X.view(2 ** 70), ValueError, "view"),
    (lambda: X.split(2 ** 70), ValueError, "split"),
    (lambda: X.reshape(4, 2), ValueError, "reshape"),
    (lambda: X.reshape(2.5, 2), TypeError, "reshape"),
    (lambda: X.t().view(6), ValueError, "view"),
    (lambda: X.permute(0, 0), ValueError, "permute"),
    (lambda: X.transpose(0, 5), ValueError, "transpose"),
    (lambda: X.squeeze(4), ValueError, "squeeze"),
    (lambda: X.unsqueeze(5), ValueError, "unsqueeze"),
    (lambda: X.expand(3, 3), ValueError, "expand"),
    (lambda: X.narrow(1, 2, 5), ValueError, "narrow"),
    (lambda: X.select(0, 9), ValueError, "select"),
    (lambda: X.flatten(3), ValueError, "flatten"),
    (lambda: X.unbind(3), ValueError, "unbind"),
    (lambda: kiln.cat([X, kiln.zeros(3)]), ValueError, "cat"),
    (lambda: kiln.cat([]), ValueError, "cat"),
    (lambda: kiln.cat([X, 1]), TypeError, "cat"),
    (lambda: kiln.stack([X, kiln.zeros(3, 2)]), ValueError, "stack"),
    (lambda: X.split(0), ValueError, "split"),
    (lambda: X.chunk(0), ValueError, "chunk"),
    (lambda: kiln.index_select(X, 0, I), ValueError, "index_select"),
    (lambda: kiln.index_select(X, 0, kiln.tensor([0.0])), TypeError, "index_select"),
    (lambda: kiln.gather(X, 1, kiln.tensor([[0, 7]])), ValueError, "gather"),
    (lambda: kiln.scatter(X, 0, kiln.tensor([[5]]), 1.0), ValueError, "scatter"),
    (lambda: X.masked_fill(kiln.zeros(2, 3), 1.0), TypeError, "masked_fill"),
    (lambda: kiln.where(X, X, X), TypeError, "where"),
    (lambda: kiln.one_hot(X), TypeError, "one_hot"),
    (lambda: kiln.embedding(X, kiln.tensor([7])), ValueError, "embedding"),
    (lambda: kiln.dropout(X, 1.5, True), ValueError, "dropout"),
    (lambda: X[5], IndexError, "index"),
    (lambda: X[0, 0, 0], IndexError, "index"),
    (lambda: X[1.5], IndexError, "index"),
    (lambda: X["a"], TypeError, "index"),
    (lambda: X[kiln.zeros(3, dtype=kiln.bool)], IndexError, "mask"),
    (lambda: X[kiln.tensor([0.5])], IndexError, "index"),
    (lambda: X[1.5:], TypeError, "slice"),
    (lambda: X.__setitem__(0, kiln.zeros(5)), ValueError, "index_put_"),
    (lambda: X.__setitem__(kiln.tensor([5]), 1.0), IndexError, "index_put_"),
    (lambda: X.__setitem__(0, "a"), TypeError, "setitem"),
    (lambda: X.index_put_((kiln.tensor([9]),), kiln.tensor(1.0)), IndexError, "index_put_"),
    (lambda: kiln.zeros(-1), ValueError, "empty"),
    (lambda: kiln.zeros("a"), TypeError, "size"),
    (lambda: kiln.zeros(2, dtype="float"), TypeError, "zeros"),
    (lambda: kiln.zeros(2, device="tpu"), ValueError, "tpu"),
    (lambda: kiln.tensor([1], dtype=np.float32), TypeError, "tensor"),
    (lambda: kiln.tensor(None), TypeError, "tensor"),
    (lambda: kiln.arange(0, 5, 0), ValueError, "arange"),
    (lambda: kiln.linspace(0, 1, -1), ValueError, "linspace"),
    (lambda: kiln.randint(5, 2, (3,)), ValueError, "randint"),
    (lambda: kiln.eye(-1), ValueError, "eye"),
    (lambda: kiln.rand(2, dtype=kiln.int64), TypeError, "rand"),
    (lambda: kiln.manual_seed("a"), TypeError, "manual_seed"),
    (lambda: kiln.manual_seed(2 ** 64), ValueError, "manual_seed"),
    (lambda: X.to("tpu"), ValueError, "tpu"),
    (lambda: X.to([1]), TypeError, "to"),
    (lambda: X.item(), ValueError, "item"),
    (lambda: X.size(3), ValueError, "size"),
    (lambda: X.view(kiln.int32), ValueError, "view"),
    (lambda: X.backward(), RuntimeError, "backward"),
    (lambda: kiln.zeros(2, requires_grad=True).add_(1), RuntimeError, "add_"),
    (lambda: kiln.zeros(2, dtype=kiln.int64).add_(1.5), TypeError, "add_"),
    (lambda: kiln.zeros(2, dtype=kiln.int64).requires_grad_(), TypeError, "requires_grad_"),
    (lambda: kiln.zeros(2).retain_grad(), RuntimeError, "retain_grad"),
    (lambda: setattr(kiln.zeros(2), "grad", kiln.zeros(3)), ValueError, "grad"),
    (lambda: X & X, TypeError, "&"),
    (lambda: ~X, TypeError, "~"),
    (lambda: B - B, TypeError, "sub"),
    (lambda: X - True, TypeError, "sub"),
    (lambda: kiln.add(kiln.tensor([1]), kiln.tensor([1]), alpha=0.5), TypeError, "alpha"),
    (lambda: -B, TypeError, "neg"),
    (lambda: kiln.div(X, X, rounding_mode="round"), ValueError, "rounding_mode"),
    (lambda: kiln.tensor([2]) ** -1, ValueError, "pow"),
    (lambda: kiln.tensor([1]) // 0, ValueError, "floor_divide"),
    (lambda: kiln.tensor([1]) % 0, ValueError, "remainder"),
    (lambda: kiln.clamp(X), ValueError, "clamp"),
    (lambda: kiln.lerp(X, kiln.zeros(4), 0.5), ValueError, "sub"),
    (lambda: kiln.allclose(X, kiln.zeros(4)), ValueError, "allclose"),
    (lambda: X.fill_(kiln.zeros(2)), ValueError, "fill_"),
    (lambda: X.copy_(kiln.zeros(5)), ValueError, "copy_"),
    (lambda: kiln.from_numpy(np.arange(3)[::-1]), ValueError, "from_numpy"),
    (lambda: kiln.from_numpy([1, 2]), TypeError, "from_numpy"),
    (lambda: kiln.from_dlpack(object()), TypeError, "from_dlpack"),
    (lambda: kiln.ones(2, dtype=kiln.bfloat16).numpy(), TypeError, "numpy"),
    (lambda: kiln.embedding(X, kiln.tensor([0]), padding_idx=0), NotImplementedError, "padding"),
    (lambda: kiln.zeros(2, out=X), NotImplementedError, "out"),
]


@pytest.mark.parametrize("index", range(len(CASES)))
def test_bad_call_raises_the_right_exception_naming_the_op(index):
    call, error, text = CASES[index]
    with pytest.raises(error) as info:
        call()
    assert info.type is error or error is not RuntimeError, info.value  # no stray subclasses
    assert text in str(info.value), str(info.value)


HOSTILE = textwrap.dedent("""
    import gc, sys
    import numpy as np
    sys.path[:0] = {paths!r}
    import kiln
    x = kiln.randn(3, 4, requires_grad=True)
    attacks = [
        lambda: kiln.zeros(2 ** 62),                    # impossible allocation
        lambda: kiln.zeros(-5, 3),
        lambda: kiln.arange(0, 1e300, 1e-300),
        lambda: kiln.ones(3)[2 ** 70],
        lambda: kiln.ones(3)[-(2 ** 63)],
        lambda: kiln.ones(3)[::0],
        lambda: kiln.ones(3).view(-1, -1),
        lambda: kiln.ones(3).expand(-2),
        lambda: kiln.ones(2, 2).narrow(0, -5, 2),
        lambda: kiln.ones(3).index_select(0, kiln.tensor([2 ** 40])),
        lambda: kiln.ones(3).gather(0, kiln.tensor([-(2 ** 40)])),
        lambda: kiln.ones(3).scatter(0, kiln.tensor([10 ** 9]), 1.0),
        lambda: kiln.ones(2, 2).index_add(0, kiln.tensor([0, 7]), kiln.ones(2, 2)),
        lambda: kiln.ones(3)[kiln.tensor([3, 4, 5])],
        lambda: kiln.ones(3).__setitem__(kiln.tensor([9]), 1.0),
        lambda: kiln.embedding(kiln.ones(2, 2), kiln.tensor([-1])),
        lambda: kiln.one_hot(kiln.tensor([-3])),
        lambda: kiln.cat([kiln.ones(2), kiln.ones(2, dtype=kiln.int64)[None]]),
        lambda: kiln.from_numpy(np.lib.stride_tricks.as_strided(np.zeros(1), (4,), (-8,))),
        lambda: kiln.from_dlpack(np.zeros(2, dtype=np.complex64)),
        lambda: kiln.tensor([[1], [2, 3]]),
        lambda: kiln.tensor([object()]),
        lambda: x.numpy(),
        lambda: x.backward(),
        lambda: (x * 2).sum().backward() or (x * 2).sum().backward(kiln.ones(5)),
        lambda: (lambda y: y.register_hook(lambda g: "not a tensor") and (y * 1).sum().backward())(
            kiln.ones(5, requires_grad=True)),
        lambda: (lambda y: y.register_hook(lambda g: 1 / 0) and (y * 1).sum().backward())(
            kiln.ones(5, requires_grad=True)),
        lambda: setattr(x, "grad", "nope"),
        lambda: kiln.Tensor(None),
        lambda: kiln.Tensor.__getitem__(None, 0),
        lambda: kiln.ones(3).__dlpack__(stream=object()) and None,
        lambda: kiln.manual_seed(-(2 ** 70)),
        lambda: kiln.randint(0, 2 ** 63, (2,)),
        lambda: kiln.linspace(0, 1, 2 ** 62),
        lambda: kiln.eye(2 ** 31, 2 ** 31),
        lambda: kiln.ones(2).to(device=kiln.device("cuda")),
        lambda: kiln.ones(2).cuda(7),
        lambda: kiln.ones(3, 3).permute(0, 1, 2),
        lambda: kiln.ones(3).reshape(()),
        lambda: kiln.softmax(kiln.ones(0), 0).sum().item(),
        lambda: kiln.ones(2, 2).max(dim=1).values.item(),
        lambda: kiln.ones(2) ** kiln.ones(3),
        lambda: kiln.nonzero(kiln.ones(())).tolist() and kiln.ones(()).unbind(0),
        lambda: kiln.ones(4).split([1, 1]),
        lambda: kiln.ones(4).split([5, -1]),
    ]
    for attack in attacks:
        try:
            attack()
        except BaseException as e:
            assert isinstance(e, Exception), repr(e)
    gc.collect()
    print("survived", len(attacks))
""")


def test_hostile_calls_never_crash_the_interpreter():
    import os
    import kiln as package
    paths = [os.path.dirname(os.path.dirname(package.__file__))]
    proc = subprocess.run([sys.executable, "-c", HOSTILE.format(paths=paths)],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "survived" in proc.stdout


def test_value_and_type_errors_are_also_runtime_errors_like_torch():
    """Ported torch code catches these mistakes as RuntimeError; Python code as ValueError /
    TypeError. Kiln's exceptions are both."""
    with pytest.raises(RuntimeError, match="add"):
        kiln.ones(2, 3) + kiln.ones(4, 3)
    with pytest.raises(ValueError, match="add"):
        kiln.ones(2, 3) + kiln.ones(4, 3)
    with pytest.raises(RuntimeError):
        kiln.ones(2, dtype=kiln.int64).add_(1.5)
    assert issubclass(kiln._C.TypeError, TypeError) and issubclass(kiln._C.ValueError, ValueError)
