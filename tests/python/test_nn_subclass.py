"""A user-defined Module (parameters registered by assignment, a buffer, a submodule) trains
like the same model in PyTorch: losses and parameters equal step for step under plain SGD
written by hand."""
import pytest
import torch

import kiln
import kiln.nn.functional as F
from parity import assert_close, same_weights, to_kiln
from test_nn_support import FLOAT_DTYPES, torch_dtype


def build_regressor(lib):
    m = lib.nn

    class Regressor(m.Module):
        def __init__(self):
            super().__init__()
            self.w1 = m.Parameter(lib.randn(3, 8) * 0.5)
            self.b1 = m.Parameter(lib.zeros(8))
            self.register_buffer("center", lib.full((3,), 0.25))
            self.head = m.Sequential(m.Tanh(), m.Linear(8, 1))

        def forward(self, x):
            h = (x - self.center).matmul(self.w1) + self.b1
            return self.head(h).squeeze(-1)

    return Regressor()


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_custom_module_trains_like_torch(dtype):
    tdt = torch_dtype(dtype)
    t, k = build_regressor(torch).to(tdt), build_regressor(kiln).to(dtype)
    assert [n for n, _ in k.named_parameters()] == ["w1", "b1", "head.1.weight", "head.1.bias"]
    assert list(k.state_dict()) == list(t.state_dict())
    same_weights(k, t)
    x = torch.randn(16, 3, dtype=tdt)
    y = (x * torch.tensor([0.5, -1.0, 0.25], dtype=tdt)).sum(1).tanh()
    kx, ky = to_kiln(x), to_kiln(y)
    lr, losses = 0.3, []
    for step in range(8):
        t_loss = torch.nn.functional.mse_loss(t(x), y)
        k_loss = F.mse_loss(k(kx), ky)
        assert_close(k_loss, t_loss, msg=f"loss at step {step}")
        losses.append(k_loss.item())
        t.zero_grad()
        k.zero_grad()
        t_loss.backward()
        k_loss.backward()
        with torch.no_grad():
            for p in t.parameters():
                p -= lr * p.grad
        with kiln.no_grad():
            for p in k.parameters():
                p.sub_(p.grad * lr)
    assert losses[-1] < losses[0] * 0.5, losses  # it learns
    for (name, kp), (_, tp) in zip(k.named_parameters(), t.named_parameters()):
        assert_close(kp.detach(), tp.detach(), msg=name)
