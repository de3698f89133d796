# An ordinary PyTorch script: a custom Module with its own Parameter, a buffer and a submodule,
# fitted to a noisy cubic with SGD, then saved and loaded back into a fresh model.
# main() returns (final loss, max difference between the reloaded and trained predictions).
import os
import tempfile

import torch
import torch.nn as nn


class Cubic(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.register_buffer("offset", torch.zeros(1))
        self.body = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.dropout = nn.Dropout(0.1)

    def forward(self, x):
        return self.scale * self.body(self.dropout(x)) + self.offset


def main():
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 128).unsqueeze(1)
    y = x ** 3 - 0.5 * x + 0.05 * torch.randn(128, 1)
    model = Cubic()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    for step in range(300):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cubic.pt")
        torch.save(model.state_dict(), path)
        fresh = Cubic()
        fresh.load_state_dict(torch.load(path))
    fresh.eval()
    with torch.no_grad():
        final = nn.functional.mse_loss(model(x), y).item()
        difference = (fresh(x) - model(x)).abs().max().item()
    return final, difference
