"""Loss modules and functions vs PyTorch (float32 and float64, every reduction): the loss and
the gradients of the inputs; class-weight buffers in state_dict; reprs; legacy arguments."""
import warnings

import pytest
import torch

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from parity import to_kiln
from test_nn_support import FLOAT_DTYPES, compare_forward_backward, torch_dtype

REDUCTIONS = ["mean", "sum", "none"]


def _pair(dtype, shape=(4, 3)):
    tdt = torch_dtype(dtype)
    return torch.randn(shape, dtype=tdt), torch.randn(shape, dtype=tdt)


def _compare(kiln_loss, torch_loss, inputs):
    """The losses with the floating-point targets detached: gradients flow into the first
    input (and into every other floating input that torch differentiates too)."""
    compare_forward_backward(kiln_loss, torch_loss, inputs, msg=type(torch_loss).__name__)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("make", [
    lambda m, r: m.MSELoss(reduction=r),
    lambda m, r: m.L1Loss(reduction=r),
    lambda m, r: m.SmoothL1Loss(reduction=r),
    lambda m, r: m.SmoothL1Loss(reduction=r, beta=0.5),
    lambda m, r: m.HuberLoss(reduction=r),
    lambda m, r: m.HuberLoss(reduction=r, delta=0.3),
])
def test_regression_losses(make, reduction, dtype):
    _compare(make(nn, reduction), make(torch.nn, reduction), list(_pair(dtype)))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce(dtype, reduction, weighted):
    tdt = torch_dtype(dtype)
    probs = torch.rand(4, 3, dtype=tdt) * 0.98 + 0.01
    target = torch.rand(4, 3, dtype=tdt)
    weight = torch.rand(3, dtype=tdt) if weighted else None
    k = nn.BCELoss(weight=to_kiln(weight) if weighted else None, reduction=reduction)
    t = torch.nn.BCELoss(weight=weight, reduction=reduction)
    _compare(k, t, [probs, target])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits(dtype, reduction, weighted):
    tdt = torch_dtype(dtype)
    logits, target = torch.randn(4, 3, dtype=tdt) * 4, torch.rand(4, 3, dtype=tdt)
    weight = torch.rand(4, 1, dtype=tdt) if weighted else None
    pos_weight = torch.rand(3, dtype=tdt) + 0.5 if weighted else None
    k = nn.BCEWithLogitsLoss(weight=to_kiln(weight) if weighted else None, reduction=reduction,
                             pos_weight=to_kiln(pos_weight) if weighted else None)
    t = torch.nn.BCEWithLogitsLoss(weight=weight, reduction=reduction, pos_weight=pos_weight)
    _compare(k, t, [logits, target])
    keys = list(k.state_dict())
    assert keys == list(t.state_dict()) == (["weight", "pos_weight"] if weighted else [])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [
    {}, {"ignore_index": 1}, {"label_smoothing": 0.2}, {"weight": True},
    {"weight": True, "ignore_index": 0, "label_smoothing": 0.1},
])
def test_cross_entropy_class_indices(dtype, reduction, options):
    tdt = torch_dtype(dtype)
    logits, target = torch.randn(6, 4, dtype=tdt), torch.tensor([0, 1, 3, 1, 2, 0])
    t_opts = dict(options)
    if options.get("weight"):
        t_opts["weight"] = torch.rand(4, dtype=tdt) + 0.1
    k_opts = {k: to_kiln(v) if isinstance(v, torch.Tensor) else v for k, v in t_opts.items()}
    _compare(nn.CrossEntropyLoss(reduction=reduction, **k_opts),
             torch.nn.CrossEntropyLoss(reduction=reduction, **t_opts), [logits, target])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_cross_entropy_probabilities_and_spatial(dtype):
    tdt = torch_dtype(dtype)
    logits = torch.randn(3, 4, dtype=tdt)
    probs = torch.softmax(torch.randn(3, 4, dtype=tdt), 1)
    _compare(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1),
             lambda a, b: torch.nn.functional.cross_entropy(a, b, label_smoothing=0.1),
             [logits, probs])
    spatial, target = torch.randn(2, 4, 3, 2, dtype=tdt), torch.randint(0, 4, (2, 3, 2))
    _compare(F.cross_entropy, torch.nn.functional.cross_entropy, [spatial, target])
    _compare(F.cross_entropy, torch.nn.functional.cross_entropy,
             [torch.randn(4, dtype=tdt), torch.tensor(2)])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(dtype, reduction):
    tdt = torch_dtype(dtype)
    logp = torch.log_softmax(torch.randn(5, 3, dtype=tdt), 1)
    target = torch.tensor([0, 2, 1, 1, 2])
    weight = torch.rand(3, dtype=tdt) + 0.1
    _compare(nn.NLLLoss(reduction=reduction), torch.nn.NLLLoss(reduction=reduction),
             [logp, target])
    _compare(nn.NLLLoss(to_kiln(weight), ignore_index=2, reduction=reduction),
             torch.nn.NLLLoss(weight, ignore_index=2, reduction=reduction), [logp, target])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(dtype, reduction, log_target):
    tdt = torch_dtype(dtype)
    logp = torch.log_softmax(torch.randn(4, 3, dtype=tdt), 1)
    target = torch.softmax(torch.randn(4, 3, dtype=tdt), 1)
    if log_target:
        target = target.log()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _compare(nn.KLDivLoss(reduction=reduction, log_target=log_target),
                 torch.nn.KLDivLoss(reduction=reduction, log_target=log_target), [logp, target])
    # Both libraries warn that 'mean' is not the KL divergence; nothing else warns.
    assert sum("batchmean" in str(w.message) for w in caught) == (2 if reduction == "mean" else 0)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_three_input_losses(dtype, reduction):
    tdt = torch_dtype(dtype)
    a, b, c = (torch.randn(5, 4, dtype=tdt) for _ in range(3))
    sign = torch.tensor([1, -1, 1, -1, -1], dtype=tdt)
    cases = [
        (lambda m: m.MarginRankingLoss(margin=0.2, reduction=reduction),
         [a[:, 0], b[:, 0], sign]),
        (lambda m: m.CosineEmbeddingLoss(margin=0.1, reduction=reduction), [a, b, sign]),
        (lambda m: m.TripletMarginLoss(reduction=reduction), [a, b, c]),
        (lambda m: m.TripletMarginLoss(margin=0.5, p=1.0, swap=True, reduction=reduction),
         [a, b, c]),
    ]
    for make, inputs in cases:
        _compare(make(nn), make(torch.nn), inputs)


def test_loss_reprs_and_attributes():
    for make in (lambda m: m.MSELoss(), lambda m: m.CrossEntropyLoss(label_smoothing=0.1),
                 lambda m: m.NLLLoss(ignore_index=3), lambda m: m.TripletMarginLoss(margin=2.0),
                 lambda m: m.HuberLoss(delta=0.5), lambda m: m.KLDivLoss(log_target=True)):
        k, t = make(nn), make(torch.nn)
        assert repr(k) == repr(t)
        for attr in ("reduction", "ignore_index", "label_smoothing", "margin", "delta",
                     "log_target", "beta", "p", "eps", "swap"):
            assert getattr(k, attr, None) == getattr(t, attr, None), attr


def test_weight_buffer_in_state_dict():
    k = nn.CrossEntropyLoss(weight=kiln.tensor([1.0, 2.0]))
    t = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0]))
    assert list(k.state_dict()) == list(t.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert nn.NLLLoss().weight is None


def test_legacy_size_average_and_reduce_are_refused():
    x, y = kiln.randn(3), kiln.randn(3)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, y, size_average=False)
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(x, y, reduce=False)
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(size_average=True)


def test_bad_arguments_raise_value_errors():
    x = kiln.randn(4, 3)
    with pytest.raises(ValueError):
        F.mse_loss(x, x, reduction="average")
    with pytest.raises(ValueError):
        F.cross_entropy(x, kiln.tensor([0, 1, 2]))  # 3 targets for 4 rows
    with pytest.raises(ValueError):
        F.cross_entropy(x, kiln.tensor([0, 1, 2, 7]))  # class 7 of 3
