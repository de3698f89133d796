# An ordinary PyTorch script: an MLP classifying two interleaved spirals, with a DataLoader,
# Adam and a step schedule. main() returns (final training loss, training accuracy).
import math

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def spirals(n_per_class):
    t = torch.linspace(0.5, 3 * math.pi, n_per_class)
    x0 = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / 10
    x1 = -x0
    x = torch.cat([x0, x1]) + 0.02 * torch.randn(2 * n_per_class, 2)
    y = torch.cat([torch.zeros(n_per_class), torch.ones(n_per_class)]).long()
    return x, y


def main():
    torch.manual_seed(0)
    x, y = spirals(200)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                          nn.Linear(64, 2))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=40, gamma=0.5)
    for epoch in range(120):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        scheduler.step()
    with torch.no_grad():
        logits = model(x)
        final_loss = criterion(logits, y).item()
        accuracy = (logits.argmax(1) == y).float().mean().item()
    return final_loss, accuracy
