"""kiln.nn.SyncBatchNorm on every rank against BatchNorm on the concatenated batch (computed
locally, float64): outputs, gradients and running statistics with equal, uneven and empty
per-rank batches; convert_sync_batchnorm; DDP training of a CNN whose BatchNorm was converted
against single-process training; evaluation against torch's BatchNorm2d."""
import numpy as np
import pytest
import torch

import kiln
import kiln.distributed as dist
from kiln import nn
from kiln.nn.parallel import DistributedDataParallel as DDP

RANK = dist.get_rank()
WORLD = dist.get_world_size()
DEVICE = "cuda" if dist.get_backend() == "nccl" else "cpu"
F64 = kiln.float64


def sizes(uneven, with_empty=False):
    pattern = [5, 2, 3, 1, 4]
    sz = [pattern[r % 5] if uneven else 4 for r in range(WORLD)]
    if with_empty and WORLD > 1:
        sz[1] = 0
    return sz


def rows(t, sz, r=RANK):
    return t[sum(sz[:r]):sum(sz[:r + 1])]


def np_of(t):
    return t.detach().cpu().to(F64).numpy()


def close(a, b, tol=1e-11, what=""):
    np.testing.assert_allclose(np_of(a), np_of(b), rtol=tol, atol=tol, err_msg=what)


def affine(bn):
    kiln.manual_seed(77)
    with kiln.no_grad():
        bn.weight.copy_(kiln.rand(bn.num_features, dtype=F64) + 0.5)
        bn.bias.copy_(kiln.randn(bn.num_features, dtype=F64))


@pytest.mark.parametrize("sample", [(3,), (3, 2, 3)])
@pytest.mark.parametrize("split", ["equal", "uneven", "empty"])
def test_equals_batch_norm_on_the_concatenated_batch(sample, split):
    sz = sizes(split != "equal", split == "empty")
    n = sum(sz)
    kiln.manual_seed(31)
    x = (kiln.randn(n, *sample, dtype=F64) * 2 + 1).to(DEVICE)
    coef = kiln.randn(n, *sample, dtype=F64).to(DEVICE)
    sync = nn.SyncBatchNorm(3).to(DEVICE, F64)
    bn = (nn.BatchNorm1d(3) if len(sample) == 1 else nn.BatchNorm2d(3)).to(DEVICE, F64)
    affine(sync)
    affine(bn)
    for step in range(2):
        xr = rows(x, sz).clone().requires_grad_()
        yr = sync(xr)
        (yr * rows(coef, sz)).sum().backward()
        xf = x.clone().requires_grad_()
        y = bn(xf)
        (y * coef).sum().backward()
        close(yr, rows(y, sz), what="output")
        close(xr.grad, rows(xf.grad, sz), what="input gradient")
        gw, gb = sync.weight.grad.clone(), sync.bias.grad.clone()
        dist.all_reduce(gw)
        dist.all_reduce(gb)
        close(gw, bn.weight.grad, what="weight gradient")
        close(gb, bn.bias.grad, what="bias gradient")
        close(sync.running_mean, bn.running_mean, what="running_mean")
        close(sync.running_var, bn.running_var, what="running_var")
        assert sync.num_batches_tracked.item() == step + 1
        sync.zero_grad()
        bn.zero_grad()
    for t in (sync.running_mean, sync.running_var):  # bit-identical on every rank
        every = [kiln.zeros_like(t) for _ in range(WORLD)]
        dist.all_gather(every, t)
        for r in range(1, WORLD):
            np.testing.assert_array_equal(np_of(every[r]), np_of(every[0]))


def test_one_value_per_channel_in_total_is_an_error():
    sync = nn.SyncBatchNorm(2).to(DEVICE)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        sync(kiln.randn(1 if RANK == 0 else 0, 2).to(DEVICE))


def test_convert_sync_batchnorm_keeps_the_tensors():
    bn = nn.BatchNorm2d(3, eps=1e-3, momentum=0.2)
    inner = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    model = nn.Sequential(nn.Conv2d(2, 3, 3), bn, nn.ReLU(), inner)
    model.eval()
    keys = list(model.state_dict())
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert isinstance(model[1], nn.SyncBatchNorm) and isinstance(inner[1], nn.SyncBatchNorm)
    assert model[1].weight is bn.weight and model[1].running_var is bn.running_var
    assert model[1].eps == 1e-3 and model[1].momentum == 0.2 and not model[1].training
    assert list(converted.state_dict()) == keys
    assert repr(model[1]) == ("SyncBatchNorm(3, eps=0.001, momentum=0.2, affine=True, "
                              "track_running_stats=True)")
    assert isinstance(nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(5)),
                      nn.SyncBatchNorm)


def cnn():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).to(DEVICE, F64)


def test_ddp_training_of_a_cnn_with_sync_batch_norm_equals_single_process():
    kiln.manual_seed(2000 + RANK)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(cnn())
    ddp = DDP(model)
    reference = cnn()
    reference.load_state_dict(model.state_dict())
    opt = kiln.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    ref_opt = kiln.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    sz = sizes(True)
    n = sum(sz)
    for step in range(3):
        kiln.manual_seed(600 + step)
        x = kiln.randn(n, 2, 4, 4, dtype=F64).to(DEVICE)
        t = kiln.randn(n, 2, dtype=F64).to(DEVICE)
        opt.zero_grad()
        (((ddp(rows(x, sz)) - rows(t, sz)) ** 2).sum() * (WORLD / n)).backward()
        opt.step()
        ref_opt.zero_grad()
        (((reference(x) - t) ** 2).sum() / n).backward()
        ref_opt.step()
    ref_state = reference.state_dict()
    for k, v in model.state_dict().items():
        close(v, ref_state[k], 1e-10, k)


def test_eval_equals_torch_batch_norm():
    sync = nn.SyncBatchNorm(3)
    affine(sync)
    with kiln.no_grad():
        sync.running_mean.copy_(kiln.tensor([0.5, -1.0, 2.0]))
        sync.running_var.copy_(kiln.tensor([1.5, 0.25, 4.0]))
    sync.eval()
    ref = torch.nn.BatchNorm2d(3).eval()
    ref.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                         for k, v in sync.state_dict().items()})
    x = np.random.RandomState(RANK).randn(2, 3, 4, 5).astype(np.float32)
    np.testing.assert_allclose(sync(kiln.from_numpy(x)).detach().numpy(),
                               ref(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
