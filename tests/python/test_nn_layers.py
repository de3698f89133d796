"""Layer modules and their functional forms vs PyTorch: Linear, Bilinear, Identity, Flatten,
Unflatten, Embedding, Dropout, CosineSimilarity, PairwiseDistance (outputs and the gradients of
inputs and parameters, float32 and float64)."""
import numpy as np
import pytest
import torch

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from parity import assert_close, to_kiln
from test_nn_support import FLOAT_DTYPES, compare_forward_backward, compare_modules, torch_dtype


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3), (3,)])
def test_linear(dtype, bias, shape):
    compare_modules(nn.Linear(3, 2, bias=bias), torch.nn.Linear(3, 2, bias=bias),
                    torch.randn(shape), dtype=dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear(dtype, bias):
    compare_modules(nn.Bilinear(3, 4, 2, bias=bias), torch.nn.Bilinear(3, 4, 2, bias=bias),
                    torch.randn(5, 3), torch.randn(5, 4), dtype=dtype)


def test_bilinear_batched_and_functional():
    w, b = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    compare_forward_backward(F.bilinear, torch.nn.functional.bilinear,
                             [torch.randn(2, 5, 3, dtype=torch.float64),
                              torch.randn(2, 5, 4, dtype=torch.float64), w, b])
    with pytest.raises(ValueError, match="batch dimensions"):
        F.bilinear(kiln.randn(2, 3), kiln.randn(3, 4), to_kiln(w))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_functional_linear(dtype):
    tdt = torch_dtype(dtype)
    args = [torch.randn(4, 3, dtype=tdt), torch.randn(2, 3, dtype=tdt), torch.randn(2, dtype=tdt)]
    compare_forward_backward(F.linear, torch.nn.functional.linear, args)
    compare_forward_backward(lambda x, w: F.linear(x, w), torch.nn.functional.linear, args[:2])


def test_linear_rejects_wrong_input_size():
    with pytest.raises((ValueError, RuntimeError)):
        nn.Linear(3, 2)(kiln.randn(4, 5))


def test_identity_flatten_unflatten():
    x = torch.randn(2, 3, 4, 2)
    compare_modules(nn.Identity(54, foo=1), torch.nn.Identity(54, foo=1), x)
    compare_modules(nn.Flatten(), torch.nn.Flatten(), x)
    compare_modules(nn.Flatten(0, 2), torch.nn.Flatten(0, 2), x)
    compare_modules(nn.Unflatten(1, (3, 1)), torch.nn.Unflatten(1, (3, 1)), x)
    compare_modules(nn.Unflatten(-2, [2, -1]), torch.nn.Unflatten(-2, [2, -1]), x)
    assert repr(nn.Unflatten(1, (3, 1))) == repr(torch.nn.Unflatten(1, (3, 1)))
    assert repr(nn.Flatten(0, 2)) == repr(torch.nn.Flatten(0, 2))
    with pytest.raises(TypeError):
        nn.Unflatten(1, (3, 1.5))
    with pytest.raises(NotImplementedError):
        nn.Unflatten("channels", (("c", 3),))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding(dtype, padding_idx):
    idx = torch.tensor([[0, 2, 4], [2, 2, 1]])
    if padding_idx == -1:
        idx[0, 0] = 4
    k, t = nn.Embedding(5, 3, padding_idx=padding_idx), torch.nn.Embedding(5, 3, padding_idx)
    assert k.padding_idx == t.padding_idx
    compare_modules(k, t, idx, dtype=dtype)
    assert repr(k) == repr(t)


def test_embedding_initialisation_zeroes_padding_row():
    e = nn.Embedding(50, 40, padding_idx=3)
    w = e.weight.detach().numpy()
    assert np.all(w[3] == 0)
    rest = np.delete(w, 3, axis=0)
    assert abs(rest.mean()) < 0.05 and abs(rest.std() - 1) < 0.05  # N(0, 1)


def test_embedding_max_norm_renormalises_used_rows():
    t = torch.nn.Embedding(6, 4, max_norm=1.0, norm_type=2.0)
    with torch.no_grad():
        t.weight.mul_(3)
    k = nn.Embedding(6, 4, max_norm=1.0)
    k.load_state_dict({"weight": to_kiln(t.weight.detach())})
    idx = torch.tensor([1, 3, 3])
    compare_forward_backward(k, t, [idx], [("weight", (k.weight, t.weight))])
    assert_close(k.weight, t.weight, msg="renormalised weight")  # rows 1 and 3 only
    assert repr(k) == repr(t)


def test_embedding_from_pretrained_and_refusals():
    w = kiln.randn(4, 2)
    e = nn.Embedding.from_pretrained(w)
    assert not e.weight.requires_grad and e.num_embeddings == 4 and e.embedding_dim == 2
    np.testing.assert_array_equal(e(kiln.tensor([3, 0])).numpy(), w.numpy()[[3, 0]])
    with pytest.raises(NotImplementedError, match="scale_grad_by_freq"):
        nn.Embedding(3, 2, scale_grad_by_freq=True)(kiln.tensor([0]))
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding(kiln.tensor([0]), w, sparse=True)
    with pytest.raises(ValueError):
        nn.Embedding(3, 2, padding_idx=3)


def test_one_hot():
    idx = torch.tensor([[0, 3], [2, 1]])
    for n in (-1, 5):
        assert_close(F.one_hot(to_kiln(idx), n), torch.nn.functional.one_hot(idx, n))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_distances(dtype):
    tdt = torch_dtype(dtype)
    a, b = torch.randn(4, 5, dtype=tdt), torch.randn(4, 5, dtype=tdt)
    compare_modules(nn.CosineSimilarity(), torch.nn.CosineSimilarity(), a, b, dtype=dtype)
    compare_modules(nn.CosineSimilarity(dim=0, eps=1e-6),
                    torch.nn.CosineSimilarity(dim=0, eps=1e-6), a, b, dtype=dtype)
    compare_modules(nn.PairwiseDistance(), torch.nn.PairwiseDistance(), a, b, dtype=dtype)
    compare_modules(nn.PairwiseDistance(p=1.0, keepdim=True),
                    torch.nn.PairwiseDistance(p=1.0, keepdim=True), a, b, dtype=dtype)
    for p, dim in [(2.0, 1), (1.0, 0), (3.0, -1)]:
        compare_forward_backward(lambda x: F.normalize(x, p, dim),
                                 lambda x: torch.nn.functional.normalize(x, p, dim), [a])


def test_dropout_train_and_eval():
    d = nn.Dropout(0.25)
    x = kiln.ones(200, 100)
    y = d(x).numpy()
    kept = y != 0
    assert abs(1 - kept.mean() - 0.25) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)  # inverted dropout scaling
    d.eval()
    assert not d.training
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())
    assert repr(d) == repr(torch.nn.Dropout(0.25))
    assert repr(nn.Dropout(0.1, inplace=True)) == repr(torch.nn.Dropout(0.1, inplace=True))


def test_dropout_gradient_follows_mask():
    x = kiln.randn(50, 20).requires_grad_()
    y = F.dropout(x, 0.5, training=True)
    y.sum().backward()
    mask = (y.detach().numpy() != 0)
    np.testing.assert_allclose(x.grad.numpy(), mask * 2.0, rtol=1e-6)


def test_dropout_edge_cases():
    x = kiln.randn(10, 10)
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0)
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).numpy(), x.numpy())
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, p)
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(p)


def test_dropout_inplace_writes_into_input():
    x = kiln.ones(20, 20)
    y = F.dropout(x, 0.5, inplace=True)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert set(np.unique(x.numpy())) <= {0.0, 2.0}


@pytest.mark.parametrize("make", [
    lambda m: m.Linear(3, 2), lambda m: m.Bilinear(2, 3, 4, bias=False), lambda m: m.Identity(),
    lambda m: m.Flatten(), lambda m: m.Unflatten(0, [2, 2]), lambda m: m.Dropout(),
    lambda m: m.Embedding(4, 3), lambda m: m.Embedding(4, 3, max_norm=1.0, norm_type=1.0),
    lambda m: m.CosineSimilarity(), lambda m: m.PairwiseDistance(p=1.0),
    lambda m: m.ModuleList([m.Linear(2, 2) for _ in range(3)]),
])
def test_layer_reprs_match_torch(make):
    assert repr(make(nn)) == repr(make(torch.nn))
