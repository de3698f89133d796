"""kiln.nn.parallel.DistributedDataParallel on every rank, against a single process on the
concatenated batch computed locally on every rank (float64): gradients, SGD training with equal
and uneven batches, small buckets, no_sync, unused parameters, buffers, parameter checks.

Loss convention: rank r's loss is (sum of its per-sample losses) * world / N, N the global
batch, so that DDP's average of the ranks' gradients is the gradient of the full-batch mean.
"""
import numpy as np
import pytest

import kiln
import kiln.distributed as dist
from kiln import nn
from kiln.nn.parallel import DistributedDataParallel as DDP

RANK = dist.get_rank()
WORLD = dist.get_world_size()
DEVICE = "cuda" if dist.get_backend() == "nccl" else "cpu"
F64 = kiln.float64


def sizes(uneven):
    pattern = [5, 2, 3, 1, 4]
    return [pattern[r % 5] if uneven else 4 for r in range(WORLD)]


def rows(t, sz, r=RANK):
    return t[sum(sz[:r]):sum(sz[:r + 1])]


def mlp():
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh(),
                         nn.Linear(6, 3)).to(DEVICE, F64)


def replicas(**options):
    kiln.manual_seed(1000 + RANK)  # rank-dependent: DDP must broadcast rank 0's
    model = mlp()
    ddp = DDP(model, **options)
    reference = mlp()
    reference.load_state_dict(model.state_dict())
    return model, ddp, reference


def batch(seed, n, inputs=5, outputs=3):
    kiln.manual_seed(seed)
    x = kiln.randn(n, inputs, dtype=F64).to(DEVICE)
    return x, kiln.randn(n, outputs, dtype=F64).to(DEVICE)


def sum_sq(out, target):
    return ((out - target) ** 2).sum()


def np_of(t):
    return t.detach().cpu().numpy()


def assert_same_grads(a, b, tol=1e-12):
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert p.grad is not None and q.grad is not None, name
        np.testing.assert_allclose(np_of(p.grad), np_of(q.grad), rtol=tol, atol=tol, err_msg=name)


def assert_same_state(a, b, tol=1e-10):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_allclose(np_of(sa[k]).astype(np.float64), np_of(sb[k]).astype(np.float64),
                                   rtol=tol, atol=tol, err_msg=k)


def gathered(t):
    out = [kiln.zeros_like(t) for _ in range(WORLD)]
    dist.all_gather(out, t.contiguous())
    return [np_of(o) for o in out]


def assert_identical_across_ranks(model):
    for name, p in model.named_parameters():
        every = gathered(p.detach())
        for r in range(1, WORLD):
            np.testing.assert_array_equal(every[r], every[0], err_msg=name)


def test_construction_broadcasts_rank_zeros_parameters():
    model, ddp, _ = replicas()
    assert_identical_across_ranks(model)
    kiln.manual_seed(1000)
    rank0 = mlp()
    assert_same_state(model, rank0, 0)
    keys = list(ddp.state_dict())
    assert keys[0] == "module.0.weight" and keys[-1] == "module.4.bias"
    assert ddp.module is model


@pytest.mark.parametrize("uneven", [False, True])
def test_gradients_equal_the_full_batch_gradient(uneven):
    model, ddp, reference = replicas()
    sz = sizes(uneven)
    n = sum(sz)
    x, t = batch(42, n)
    (sum_sq(ddp(rows(x, sz)), rows(t, sz)) * (WORLD / n)).backward()
    (sum_sq(reference(x), t) / n).backward()
    assert_same_grads(model, reference)


@pytest.mark.parametrize("uneven", [False, True])
def test_training_equals_single_process(uneven):
    model, ddp, reference = replicas()
    opt = kiln.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    ref_opt = kiln.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    sz = sizes(uneven)
    n = sum(sz)
    for step in range(4):
        x, t = batch(500 + step, n)
        opt.zero_grad()
        (sum_sq(ddp(rows(x, sz)), rows(t, sz)) * (WORLD / n)).backward()
        opt.step()
        ref_opt.zero_grad()
        (sum_sq(reference(x), t) / n).backward()
        ref_opt.step()
    assert_same_state(model, reference)
    assert_identical_across_ranks(model)


def test_small_buckets_in_reverse_order():
    # 40-byte buckets: 4.bias (24 B) + 4.weight, then one parameter each (as the C++ test).
    model, ddp, reference = replicas(bucket_cap_mb=40 / (1024 * 1024))
    assert ddp._bucket_assignment() == [[5, 4], [3], [2], [1], [0]]
    assert replicas()[1]._bucket_assignment() == [[5, 4, 3, 2, 1, 0]]
    sz = sizes(True)
    n = sum(sz)
    x, t = batch(43, n)
    (sum_sq(ddp(rows(x, sz)), rows(t, sz)) * (WORLD / n)).backward()
    (sum_sq(reference(x), t) / n).backward()
    assert_same_grads(model, reference)
    stats = ddp._last_reduction()
    assert stats["buckets"] == 5 and stats["wait_seconds"] >= 0
    # Started by the hooks while the first layer's gradients were still to come.
    assert stats["started_before_last_gradient"] >= 3


def test_no_sync_accumulates_locally_then_reduces_the_sum():
    model, ddp, reference = replicas()
    sz = sizes(True)
    per = sum(sz)
    n = 3 * per
    x, t = batch(44, n)

    def micro(k, v):
        return rows(v[k * per:(k + 1) * per], sz)

    with ddp.no_sync():
        for k in range(2):
            (sum_sq(ddp(micro(k, x)), micro(k, t)) * (WORLD / n)).backward()
    local = mlp()
    local.load_state_dict(reference.state_dict())
    for k in range(2):
        (sum_sq(local(micro(k, x)), micro(k, t)) * (WORLD / n)).backward()
    assert_same_grads(model, local)  # inside no_sync: this rank's gradients alone
    (sum_sq(ddp(micro(2, x)), micro(2, t)) * (WORLD / n)).backward()
    (sum_sq(reference(x), t) / n).backward()
    assert_same_grads(model, reference)


class Heads(nn.Module):
    """`a` always used, `b` when use_b, `c` never."""

    def __init__(self, use_b):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 2), nn.Linear(4, 2), nn.Linear(4, 2)
        self.use_b = use_b
        self.to(DEVICE, F64)

    def forward(self, x):
        y = self.a(x)
        return y + self.b(x) if self.use_b else y


def test_unused_parameters_are_an_error_naming_them():
    ddp = DDP(Heads(True))
    with pytest.raises(RuntimeError, match=r"received no gradient.*c\.weight, c\.bias.*"
                                           r"find_unused_parameters=True"):
        ddp(kiln.randn(3, 4, dtype=F64).to(DEVICE)).sum().backward()


def test_find_unused_parameters_reduces_what_some_ranks_used():
    kiln.manual_seed(7)
    model = Heads(RANK == 0)
    ddp = DDP(model, find_unused_parameters=True)
    kiln.manual_seed(45)
    xs = [kiln.randn(3, 4, dtype=F64).to(DEVICE) for _ in range(WORLD)]
    ddp(xs[RANK]).sum().backward()
    ga = np.zeros((2, 4))
    gb = np.zeros((2, 4))
    for r in range(WORLD):
        local = Heads(r == 0)
        local.load_state_dict(model.state_dict())
        local(xs[r]).sum().backward()
        ga += np_of(local.a.weight.grad) / WORLD
        if r == 0:
            gb += np_of(local.b.weight.grad) / WORLD
    np.testing.assert_allclose(np_of(model.a.weight.grad), ga, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np_of(model.b.weight.grad), gb, rtol=1e-12, atol=1e-12)
    assert model.c.weight.grad is None  # no rank used it


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2).to(DEVICE)
        self.register_buffer("count", kiln.zeros(2, device=DEVICE))

    def forward(self, x):
        self.count.add_(1)
        return self.fc(x)


@pytest.mark.parametrize("broadcast", [True, False])
def test_buffers_follow_rank_zero(broadcast):
    m = Counter()
    m.count.fill_(10.0 * RANK)
    ddp = DDP(m, broadcast_buffers=broadcast)
    assert m.count.tolist() == [0, 0]  # at construction, always
    m.count.fill_(10.0 * RANK + 5)
    ddp(kiln.randn(1, 2).to(DEVICE)).sum().backward()
    expected = 6.0 if broadcast else 10.0 * RANK + 6
    assert m.count.tolist() == [expected, expected]
    ddp.eval()
    m.count.fill_(10.0 * RANK)
    with kiln.no_grad():
        ddp(kiln.randn(1, 2).to(DEVICE))
    assert m.count.tolist() == [10.0 * RANK + 1] * 2  # no broadcast in evaluation


def test_different_parameters_across_ranks_are_an_error():
    model = nn.Sequential(nn.Linear(5, 9 if RANK == 1 else 8)).to(DEVICE)
    with pytest.raises(ValueError, match=r"parameter 0.*\[8, 5\] on rank 0 but float32 \[9, 5\] "
                                         r"on rank 1"):
        DDP(model)


def test_seeding_per_rank_gives_different_dropout_masks():
    kiln.manual_seed(9 + RANK)
    ddp = DDP(nn.Sequential(nn.Linear(16, 16), nn.Dropout(0.5)).to(DEVICE))
    assert_identical_across_ranks(ddp.module)
    mask = (ddp(kiln.ones(4, 16, device=DEVICE)).detach() != 0).to(kiln.float32)
    every = gathered(mask)
    assert not np.array_equal(every[0], every[1])
