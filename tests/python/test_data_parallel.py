"""The single-process parts of data-parallel training (the multi-rank tests run under mpirun in
tests/distributed/python): Tensor.register_post_accumulate_grad_hook and the engine's final
callback that DDP is built on, DistributedSampler against torch's, and SyncBatchNorm outside a
process group (BatchNorm, checked against torch's BatchNorm2d) with convert_sync_batchnorm."""
import numpy as np
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler as TorchSampler

import kiln
from kiln import nn
from kiln.utils.data.distributed import DistributedSampler


def test_post_accumulate_grad_hook_sees_the_whole_gradient_once():
    x = kiln.tensor([1.0, -2.0, 3.0], requires_grad=True)
    seen = []
    handle = x.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
    y = (x * x).sum() + (x * 3).sum()
    y.backward(retain_graph=True)
    assert seen == [[5.0, -1.0, 9.0]]
    y.backward()
    assert seen[-1] == [10.0, -2.0, 18.0]  # accumulated
    handle.remove()
    (x * 1).sum().backward()
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(TypeError, match="must return None"):
        z = kiln.ones(2, requires_grad=True)
        z.register_post_accumulate_grad_hook(lambda p: p)
        z.sum().backward()


def test_queue_callback_runs_after_every_gradient():
    a = kiln.tensor([1.0, 2.0], requires_grad=True)
    b = kiln.tensor([3.0], requires_grad=True)
    log = []

    def hook(_):
        if not log:
            log.append("queued")
            kiln._C._queue_callback(lambda: log.append((a.grad.tolist(), b.grad.tolist())))

    a.register_post_accumulate_grad_hook(hook)
    b.register_post_accumulate_grad_hook(hook)
    ((a * b).sum() * 2).backward()
    assert log == ["queued", ([6.0, 6.0], [6.0])]
    with pytest.raises(RuntimeError, match="no backward pass is running"):
        kiln._C._queue_callback(lambda: None)
    # An exception in a callback reaches the caller of backward.
    c = kiln.ones(1, requires_grad=True)

    def failing(_):
        kiln._C._queue_callback(lambda: 1 / 0)

    c.register_post_accumulate_grad_hook(failing)
    with pytest.raises(ZeroDivisionError):
        c.sum().backward()


def test_reaches_finds_what_the_output_depends_on():
    a, b, c = (kiln.ones(1, requires_grad=True) for _ in range(3))
    out = a * 2 + b
    assert kiln._C._reaches([out], [a, b, c]) == [True, True, False]


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (2, 5, False),
                                                  (12, 4, False), (13, 2, True)])
def test_distributed_sampler_without_shuffle_equals_torch(n, replicas, drop_last):
    data = list(range(n))
    for rank in range(replicas):
        ours = DistributedSampler(data, replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(data, replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


def test_distributed_sampler_given_torchs_permutation_equals_torch(monkeypatch):
    """The padding and sharding are torch's: with torch's permutation the shards are equal."""
    def torch_permutation(self, n):
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return torch.randperm(n, generator=g).tolist()

    monkeypatch.setattr(DistributedSampler, "_permutation", torch_permutation)
    data = list(range(23))
    for epoch in (0, 3):
        for rank in range(4):
            ours = DistributedSampler(data, 4, rank, seed=5)
            theirs = TorchSampler(data, 4, rank, seed=5)
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs)


def test_distributed_sampler_shards_are_disjoint_and_reshuffled_per_epoch():
    data = list(range(17))
    shards = [list(DistributedSampler(data, 3, r, seed=2)) for r in range(3)]
    assert all(len(s) == 6 for s in shards)
    flat = sum(shards, [])
    assert sorted(set(flat)) == data and len(flat) - len(data) == 1  # one padding index
    s = DistributedSampler(data, 3, 0, seed=2)
    first = list(s)
    assert list(s) == first  # the same epoch: the same order
    s.set_epoch(1)
    assert list(s) != first
    assert list(DistributedSampler(data, 3, 0, seed=3)) != first
    with pytest.raises(ValueError, match="Invalid rank 3"):
        DistributedSampler(data, 3, 3)
    loader = kiln.utils.data.DataLoader(kiln.utils.data.TensorDataset(kiln.arange(17)),
                                        batch_size=4, sampler=s)
    assert sum((b[0].tolist() for b in loader), []) == list(s)


def copy_bn(src, dst):
    dst.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                         for k, v in src.state_dict().items()})


def test_sync_batch_norm_without_a_group_is_batch_norm():
    sync = nn.SyncBatchNorm(3, momentum=0.3)
    with kiln.no_grad():
        sync.weight.copy_(kiln.tensor([0.5, 2.0, -1.0]))
        sync.bias.copy_(kiln.tensor([0.1, 0.0, 3.0]))
    ref = torch.nn.BatchNorm2d(3, momentum=0.3)
    copy_bn(sync, ref)
    x = np.random.randn(4, 3, 5, 2).astype(np.float32)
    xk = kiln.from_numpy(x.copy()).requires_grad_()
    xt = torch.from_numpy(x.copy()).requires_grad_()
    g = np.random.randn(4, 3, 5, 2).astype(np.float32)
    yk, yt = sync(xk), ref(xt)
    (yk * kiln.from_numpy(g)).sum().backward()
    (yt * torch.from_numpy(g)).sum().backward()
    tol = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(yk.detach().numpy(), yt.detach().numpy(), **tol)
    np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), **tol)
    np.testing.assert_allclose(sync.weight.grad.numpy(), ref.weight.grad.numpy(), **tol)
    np.testing.assert_allclose(sync.running_var.numpy(), ref.running_var.numpy(), **tol)
    sync.eval()
    ref.eval()
    np.testing.assert_allclose(sync(kiln.from_numpy(x)).detach().numpy(),
                               ref(torch.from_numpy(x)).detach().numpy(), **tol)
    with pytest.raises(ValueError, match="expected at least 2D input"):
        sync(kiln.ones(3))


def test_convert_sync_batchnorm_like_torch():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Sequential(nn.BatchNorm1d(4)))
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                                 torch.nn.Sequential(torch.nn.BatchNorm1d(4)))
    ours = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    theirs = torch.nn.SyncBatchNorm.convert_sync_batchnorm(tmodel)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
