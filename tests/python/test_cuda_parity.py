"""Kiln on CUDA against PyTorch: a set of ops (forward and gradients) and MLP training steps,
same inputs and weights. The reference is torch on the CPU (Debian's torch has no CUDA) and,
where torch has CUDA too, torch on the same GPU.

Skipped without a kiln CUDA device. Tolerances (float32): rtol/atol 1e-5 for elementwise ops and
small reductions, 1e-4 where a sum of many products is rounded in another order (matrix
products, convolution, losses over a batch); bfloat16: 2e-2 of the values' scale. TF32 is off on
both sides (kiln's default; torch's cuDNN default is on, and is switched off here).
"""
import numpy as np
import pytest
import torch

import kiln

pytestmark = pytest.mark.skipif(not kiln.cuda.is_available(),
                                reason="no kiln CUDA device: kiln-on-CUDA parity skipped")

KILN_DEVICE = "cuda"
TORCH_DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def _no_tf32():
    if torch.cuda.is_available():
        old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        yield
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
    else:
        yield


# ---- inputs: ("f", shape, domain) for floating tensors, ("i", shape, high) for int64 ones ----

def _draw(spec, rng):
    kind, shape = spec[0], spec[1]
    if kind == "i":
        return rng.integers(0, spec[2], size=shape).astype(np.int64)
    domain = spec[2] if len(spec) > 2 else "any"
    if domain == "any":
        return rng.standard_normal(shape)
    u = rng.random(shape)
    if domain == "positive":
        return 0.5 + 2.0 * u
    if domain == "away":  # |x| in [0.5, 2): no kinks of relu/abs nearby
        return np.where(rng.random(shape) < 0.5, -1.0, 1.0) * (0.5 + 1.5 * u)
    raise ValueError(domain)


def _f(*shape, domain="any"):
    return ("f", shape, domain)


def _i(*shape, high):
    return ("i", shape, high)


def F(lib):
    return lib.nn.functional


# (name, fn(lib, *tensors) -> tensor, input specs, float32 tolerance)
OPS = [
    ("add", lambda L, a, b: a + b, [_f(64, 33), _f(64, 33)], 1e-5),
    ("add_alpha_broadcast", lambda L, a, b: L.add(a, b, alpha=0.5), [_f(64, 1), _f(33)], 1e-5),
    ("sub_transposed", lambda L, a, b: a - b.t(), [_f(64, 33), _f(33, 64)], 1e-5),
    ("mul", lambda L, a, b: a * b, [_f(64, 33), _f(64, 33)], 1e-5),
    ("div", lambda L, a, b: a / b, [_f(64, 33), _f(64, 33, domain="away")], 1e-5),
    ("pow", lambda L, a: a.pow(2.5), [_f(64, 33, domain="positive")], 1e-5),
    ("exp", lambda L, a: L.exp(a), [_f(64, 33)], 1e-5),
    ("log", lambda L, a: L.log(a), [_f(64, 33, domain="positive")], 1e-5),
    ("sqrt", lambda L, a: L.sqrt(a), [_f(64, 33, domain="positive")], 1e-5),
    ("tanh", lambda L, a: L.tanh(a), [_f(64, 33)], 1e-5),
    ("sigmoid", lambda L, a: L.sigmoid(a), [_f(64, 33)], 1e-5),
    ("relu", lambda L, a: F(L).relu(a), [_f(64, 33, domain="away")], 1e-5),
    ("gelu", lambda L, a: F(L).gelu(a), [_f(64, 33)], 1e-5),
    ("gelu_tanh", lambda L, a: F(L).gelu(a, approximate="tanh"), [_f(64, 33)], 1e-5),
    ("silu", lambda L, a: F(L).silu(a), [_f(64, 33)], 1e-5),
    ("softplus", lambda L, a: F(L).softplus(a, beta=2.0), [_f(64, 33)], 1e-5),
    ("sum_dim", lambda L, a: a.sum(dim=1), [_f(64, 33)], 1e-5),
    ("sum_all", lambda L, a: a.sum(), [_f(64, 333, domain="positive")], 1e-5),
    ("mean_keepdim", lambda L, a: a.mean(dim=0, keepdim=True), [_f(64, 33)], 1e-5),
    ("var", lambda L, a: a.var(dim=1), [_f(64, 33)], 1e-5),
    ("std", lambda L, a: a.std(dim=0), [_f(64, 33)], 1e-5),
    ("amax", lambda L, a: L.amax(a, dim=1), [_f(64, 33)], 1e-5),
    ("max_dim_values", lambda L, a: L.max(a, 1).values, [_f(64, 33)], 1e-5),
    ("logsumexp", lambda L, a: L.logsumexp(a, dim=1), [_f(64, 33)], 1e-5),
    ("norm", lambda L, a: a.norm(dim=1), [_f(64, 33)], 1e-5),
    ("softmax", lambda L, a: F(L).softmax(a, dim=-1), [_f(64, 33)], 1e-5),
    ("softmax_long_rows", lambda L, a: F(L).softmax(a, dim=1) * 5000.0, [_f(8, 5000)], 1e-4),
    ("log_softmax_dim0", lambda L, a: F(L).log_softmax(a, dim=0), [_f(64, 33)], 1e-5),
    ("matmul", lambda L, a, b: a @ b, [_f(64, 48), _f(48, 33)], 1e-4),
    ("bmm", lambda L, a, b: L.bmm(a, b), [_f(4, 16, 24), _f(4, 24, 8)], 1e-4),
    ("linear", lambda L, x, w, b: F(L).linear(x, w, b), [_f(32, 64), _f(16, 64), _f(16)], 1e-4),
    ("cross_entropy", lambda L, x, t: F(L).cross_entropy(x, t), [_f(32, 10), _i(32, high=10)],
     1e-5),
    ("mse_loss", lambda L, a, b: F(L).mse_loss(a, b), [_f(32, 10), _f(32, 10)], 1e-5),
    ("embedding", lambda L, w, i: F(L).embedding(i, w), [_f(20, 8), _i(6, 5, high=20)], 1e-5),
    ("index_select", lambda L, a, i: L.index_select(a, 0, i), [_f(20, 8), _i(30, high=20)],
     1e-5),
    ("gather", lambda L, a, i: L.gather(a, 1, i), [_f(20, 8), _i(20, 5, high=8)], 1e-5),
    ("where", lambda L, a, b: L.where(a > 0.25, a, b), [_f(64, 33), _f(33)], 1e-5),
    ("masked_fill", lambda L, a: a.masked_fill(a < -0.5, 2.0), [_f(64, 33)], 1e-5),
    ("cat", lambda L, a, b: L.cat([a, b, a], dim=1), [_f(16, 3), _f(16, 5)], 1e-5),
    ("stack", lambda L, a, b: L.stack([a, b], dim=1), [_f(16, 3), _f(16, 3)], 1e-5),
    ("permute_contiguous", lambda L, a: a.permute(2, 0, 1).contiguous() * 1.5, [_f(4, 5, 6)],
     1e-5),
    ("conv2d", lambda L, x, w, b: F(L).conv2d(x, w, b, padding=1),
     [_f(2, 3, 10, 10), _f(4, 3, 3, 3), _f(4)], 1e-4),
    ("max_pool2d", lambda L, x: F(L).max_pool2d(x, 2), [_f(2, 3, 8, 8)], 1e-5),
    ("avg_pool2d", lambda L, x: F(L).avg_pool2d(x, 2), [_f(2, 3, 8, 8)], 1e-5),
]


def _inputs(specs, seed=0):
    rng = np.random.default_rng(seed)
    return [_draw(s, rng) for s in specs]


def _run(lib, device, fn, arrays, specs, dtype, grad):
    """fn on `lib` tensors made from `arrays`: (output as float64 numpy, gradients)."""
    ts = []
    for a, s in zip(arrays, specs):
        if s[0] == "i":
            t = lib.tensor(a).to(device)
        else:
            t = lib.tensor(a.astype(np.float32)).to(dtype).to(device)
            if grad:
                t.requires_grad_(True)
        ts.append(t)
    y = fn(lib, *ts)
    grads = []
    if grad:
        w = lib.tensor(np.random.default_rng(99).standard_normal(tuple(y.shape))
                       .astype(np.float32)).to(dtype).to(device)
        (y * w).sum().backward()
        grads = [None if t.grad is None else _np(t.grad) for t in ts if t.requires_grad]
    return _np(y), grads


def _np(t):
    t = t.detach().cpu()
    low = (torch.bfloat16, torch.float16) if isinstance(t, torch.Tensor) else (kiln.bfloat16,
                                                                                kiln.float16)
    if any(t.dtype is d or t.dtype == d for d in low):
        t = t.float()
    return t.numpy().astype(np.float64)


def _close(got, want, rtol, atol, msg):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=msg)


@pytest.mark.parametrize("torch_device", TORCH_DEVICES)
@pytest.mark.parametrize("name,fn,specs,tol", OPS, ids=[o[0] for o in OPS])
def test_op_float32_forward_and_backward(name, fn, specs, tol, torch_device):
    arrays = _inputs(specs)
    k_out, k_grads = _run(kiln, KILN_DEVICE, fn, arrays, specs, kiln.float32, True)
    t_out, t_grads = _run(torch, torch_device, fn, arrays, specs, torch.float32, True)
    _close(k_out, t_out, tol, tol, f"{name} output vs torch {torch_device}")
    assert len(k_grads) == len(t_grads)
    for i, (kg, tg) in enumerate(zip(k_grads, t_grads)):
        assert (kg is None) == (tg is None), f"{name} grad {i}"
        if tg is not None:
            _close(kg, tg, tol, tol, f"{name} grad {i} vs torch {torch_device}")


BF16_OPS = ["add", "mul", "exp", "gelu", "silu", "sum_dim", "mean_keepdim", "amax", "softmax",
            "log_softmax_dim0", "matmul", "linear", "index_select", "where", "cat"]


@pytest.mark.parametrize("torch_device", TORCH_DEVICES)
@pytest.mark.parametrize("name", BF16_OPS)
def test_op_bfloat16_forward(name, torch_device):
    _, fn, specs, _ = next(o for o in OPS if o[0] == name)
    arrays = _inputs(specs)
    k_out, _ = _run(kiln, KILN_DEVICE, fn, arrays, specs, kiln.bfloat16, False)
    t_out, _ = _run(torch, torch_device, fn, arrays, specs, torch.bfloat16, False)
    scale = max(1.0, float(np.abs(t_out).max()))
    _close(k_out, t_out, 2e-2, 2e-2 * scale, f"{name} bfloat16 vs torch {torch_device}")


# ---- MLP training steps (the model of `kiln train mlp`) ----

def _mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                         nn.ReLU(), nn.Linear(128, 10))


def _optimizer(lib, name, params):
    if name == "sgd_momentum":
        return lib.optim.SGD(params, lr=0.05, momentum=0.9)
    if name == "sgd_nesterov_wd":
        return lib.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    if name == "adam":
        return lib.optim.Adam(params, lr=1e-3)
    if name == "adamw":
        return lib.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)
    raise ValueError(name)


def _train(lib, device, opt_name, init, batches, clip):
    torch.manual_seed(0)
    kiln.manual_seed(0)
    model = _mlp(lib)
    model.load_state_dict({k: lib.tensor(v) for k, v in init.items()})
    model.to(device)
    opt = _optimizer(lib, opt_name, model.parameters())
    losses = []
    for x, y in batches:
        loss = lib.nn.functional.cross_entropy(model(lib.tensor(x).to(device)),
                                               lib.tensor(y).to(device))
        opt.zero_grad()
        loss.backward()
        if clip:
            lib.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        losses.append(loss.item())
    return losses, {k: _np(v) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("torch_device", TORCH_DEVICES)
@pytest.mark.parametrize("opt_name,clip", [("sgd_momentum", False), ("sgd_nesterov_wd", False),
                                           ("adam", False), ("adamw", False),
                                           ("sgd_momentum", True)])
def test_mlp_training_steps_match_torch(opt_name, clip, torch_device):
    torch.manual_seed(0)
    init = {k: v.numpy().copy() for k, v in _mlp(torch).state_dict().items()}
    rng = np.random.default_rng(3)
    teacher = rng.standard_normal((784, 10)).astype(np.float32)  # learnable labels
    xs = [rng.random((32, 1, 28, 28), dtype=np.float32) - 0.5 for _ in range(10)]
    batches = [(x, (x.reshape(32, -1) @ teacher).argmax(1).astype(np.int64)) for x in xs]
    k_losses, k_params = _train(kiln, KILN_DEVICE, opt_name, init, batches, clip)
    t_losses, t_params = _train(torch, torch_device, opt_name, init, batches, clip)
    np.testing.assert_allclose(k_losses, t_losses, rtol=1e-5, atol=1e-6,
                               err_msg=f"losses vs torch {torch_device}")
    assert k_losses[-1] < k_losses[0], "the loss should fall"
    assert k_params.keys() == t_params.keys()
    for name, want in t_params.items():
        rel = np.linalg.norm(k_params[name] - want) / np.linalg.norm(want)
        assert rel <= 1e-4, f"{name}: relative L2 difference {rel:.3g} vs torch {torch_device}"


def test_kiln_cuda_tensors_are_on_the_gpu():
    """The comparisons above are not CPU-vs-CPU by accident."""
    x = kiln.ones(3).to(KILN_DEVICE)
    assert x.is_cuda and (x * 2).is_cuda
    assert str((x + x).device).startswith("cuda")
