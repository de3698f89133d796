"""kiln.distributed's torch-shaped API on every rank, against values computed from what each
rank is known to contribute (rank r's element i is value(r, i))."""
import datetime
import os
import time

import numpy as np
import pytest

import kiln
import kiln.distributed as dist
import kiln.distributed.nn.functional as dist_fn

RANK = dist.get_rank()
WORLD = dist.get_world_size()
DEVICE = "cuda" if dist.get_backend() == "nccl" else "cpu"


def value(r, shape):
    n = int(np.prod(shape))
    return ((r + 1) * (np.arange(n) % 7 + 1) + 3 * (r % 2)).astype(np.float64).reshape(shape)


def of(r, shape, dtype=kiln.float32):
    return kiln.tensor(value(r, shape)).to(DEVICE, dtype)


def to_np(t):
    return t.detach().cpu().to(kiln.float64).numpy()


def test_rank_size_backend():
    assert dist.is_initialized()
    assert dist.is_available() and dist.is_mpi_available()
    assert 0 <= RANK < WORLD
    assert dist.get_backend() in ("mpi", "nccl")
    assert dist.group.WORLD is None


@pytest.mark.parametrize("dtype", [kiln.float32, kiln.float64, kiln.float16, kiln.bfloat16,
                                   kiln.int64, kiln.int32, kiln.uint8])
@pytest.mark.parametrize("op", ["SUM", "AVG", "MAX", "MIN"])
def test_all_reduce(dtype, op):
    if op == "AVG" and not dtype.is_floating_point:
        pytest.skip("AVG is for floating-point tensors")
    t = of(RANK, (2, 3), dtype)
    assert dist.all_reduce(t, op=getattr(dist.ReduceOp, op)) is None
    stack = np.stack([value(r, (2, 3)) for r in range(WORLD)])
    expected = {"SUM": stack.sum(0), "AVG": stack.mean(0), "MAX": stack.max(0),
                "MIN": stack.min(0)}[op]
    tol = {kiln.bfloat16: 0.07, kiln.float16: 0.01}.get(dtype, 1e-6)
    assert t.dtype == dtype
    np.testing.assert_allclose(to_np(t), expected, rtol=tol, atol=tol)


def test_all_reduce_avg_of_integers_is_a_type_error():
    with pytest.raises(TypeError, match="ReduceOp.AVG needs a floating-point tensor"):
        dist.all_reduce(kiln.zeros(3, dtype=kiln.int64, device=DEVICE), op=dist.ReduceOp.AVG)


def test_async_op_returns_work():
    dist.barrier()
    if RANK == WORLD - 1:
        time.sleep(0.3)  # the others' Work cannot complete before this rank joins
    t = kiln.ones(1000, device=DEVICE)
    work = dist.all_reduce(t, async_op=True)
    assert isinstance(work, dist.Work)
    # Checked mode exchanges signatures before each collective, which waits for the last rank,
    # so only the unchecked run can see the Work still in flight.
    if WORLD > 1 and RANK != WORLD - 1 and os.environ.get("KILN_DIST_CHECKED") != "1":
        assert not work.is_completed()
    assert work.wait() is True
    np.testing.assert_array_equal(to_np(t), np.full(1000, WORLD))


def test_broadcast_every_root():
    for src in range(WORLD):
        t = of(RANK, (4,), kiln.int64)
        dist.broadcast(t, src)
        np.testing.assert_array_equal(to_np(t), value(src, (4,)))


def test_broadcast_non_contiguous():
    base = kiln.full((3, 4), -1.0, device=DEVICE)
    view = base.t()
    if RANK == 0:
        view.copy_(of(0, (4, 3)))
    dist.broadcast(view, 0)
    np.testing.assert_array_equal(to_np(view), value(0, (4, 3)))


def test_all_gather_uneven():
    t = of(RANK, (RANK + 1, 2))
    out = [kiln.empty(r + 1, 2, device=DEVICE) for r in range(WORLD)]
    dist.all_gather(out, t)
    for r in range(WORLD):
        np.testing.assert_array_equal(to_np(out[r]), value(r, (r + 1, 2)))


def test_reduce_scatter():
    inputs = [kiln.full((q + 1,), float(RANK + 10 * q), device=DEVICE) for q in range(WORLD)]
    out = kiln.empty(RANK + 1, device=DEVICE)
    work = dist.reduce_scatter(out, inputs, op=dist.ReduceOp.SUM, async_op=True)
    work.wait()
    expected = sum(r + 10 * RANK for r in range(WORLD))
    np.testing.assert_array_equal(to_np(out), np.full(RANK + 1, expected))


def test_barrier_waits_for_the_last_rank():
    dist.barrier()
    start = time.monotonic()
    if RANK == WORLD - 1:
        time.sleep(0.2)
    dist.barrier()
    assert time.monotonic() - start >= 0.15


def test_argument_errors():
    t = kiln.zeros(3, device=DEVICE)
    with pytest.raises(ValueError, match="one tensor per rank"):
        dist.all_gather([t] * (WORLD + 1), t)
    with pytest.raises(ValueError, match="is not a rank of this group"):
        dist.broadcast(t, WORLD)
    with pytest.raises(TypeError, match="ProcessGroup or None"):
        dist.all_reduce(t, group="world")
    with pytest.raises(RuntimeError, match="already initialised"):
        dist.init_process_group("mpi")
    with pytest.raises(ValueError, match="init_method"):
        dist.init_process_group("mpi", init_method="tcp://127.0.0.1:23456")
    with pytest.raises(TypeError, match="timedelta"):
        dist.init_process_group("mpi", timeout=5)


def test_functional_all_reduce_gradient():
    # rank r's loss is sum(w_r * y) with y = all_reduce(x): x.grad = sum_q w_q.
    x = of(RANK, (2, 3), kiln.float64).requires_grad_()
    y = dist_fn.all_reduce(x)
    np.testing.assert_array_equal(to_np(y), sum(value(r, (2, 3)) for r in range(WORLD)))
    w = lambda q: 0.5 * (q + 1) - 0.25 * np.arange(6).reshape(2, 3)  # noqa: E731
    (y * kiln.tensor(w(RANK)).to(DEVICE)).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), sum(w(q) for q in range(WORLD)), atol=1e-12)


def test_functional_all_gather_gradient():
    # rank q's loss is sum_r (q + 1) * sum(out[r]): x_r.grad = sum_q (q + 1).
    x = of(RANK, (RANK + 1, 2), kiln.float64).requires_grad_()
    out = dist_fn.all_gather(x)
    assert isinstance(out, tuple) and len(out) == WORLD
    for r in range(WORLD):
        np.testing.assert_array_equal(to_np(out[r]), value(r, (r + 1, 2)))
    sum((RANK + 1) * o.sum() for o in out).backward()
    np.testing.assert_allclose(to_np(x.grad), np.full((RANK + 1, 2), WORLD * (WORLD + 1) / 2))


def test_functional_reduce_scatter_gradient():
    inputs = [kiln.full((2,), float(RANK), dtype=kiln.float64, device=DEVICE).requires_grad_()
              for _ in range(WORLD)]
    out = kiln.empty(2, dtype=kiln.float64, device=DEVICE)
    y = dist_fn.reduce_scatter(out, inputs)
    np.testing.assert_array_equal(to_np(out), np.full(2, WORLD * (WORLD - 1) / 2))
    ((RANK + 1) * y).sum().backward()
    for q in range(WORLD):
        np.testing.assert_array_equal(to_np(inputs[q].grad), np.full(2, q + 1.0))


@pytest.mark.skipif(os.environ.get("KILN_DIST_CHECKED") != "1" or WORLD < 2,
                    reason="checked mode: run.sh runs this file again with KILN_DIST_CHECKED=1")
def test_checked_mode_mismatch_raises_on_every_rank():
    t = kiln.zeros(4, 2 if RANK == 1 else 3, device=DEVICE)
    with pytest.raises(ValueError, match=r"all_reduce: rank 0 has float32 \[4, 3\] but rank 1 "
                                         r"has float32 \[4, 2\]"):
        dist.all_reduce(t)
    t = kiln.ones(4, 3, device=DEVICE)
    dist.all_reduce(t)  # matching calls still work afterwards
    np.testing.assert_array_equal(to_np(t), np.full((4, 3), WORLD))


def test_default_timeout_is_a_timedelta():
    assert dist.default_pg_timeout == datetime.timedelta(minutes=5)
