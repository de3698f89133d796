"""Trains an MLP on MNIST with Kiln, written the way a PyTorch user writes the loop.

    /usr/bin/python3 examples/python/mnist_mlp.py [--data DIR] [--epochs N] [--batch-size N]

With --data (default: ../shared/data/mnist-t10k when it exists) it reads the idx files there;
a directory holding only the 10,000-image test set is split into its first 8,000 images for
training and last 2,000 for testing. Without data it uses the embedded synthetic digits.
Porting from PyTorch: `import torch` -> `import kiln`; everything else is unchanged.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python_bindings"))  # a source checkout

import kiln  # noqa: E402
import kiln.nn as nn  # noqa: E402
import kiln.nn.functional as F  # noqa: E402
from kiln.utils.data import DataLoader, Subset  # noqa: E402

DEFAULT_DATA = os.path.join(HERE, "..", "..", "..", "shared", "data", "mnist-t10k")


def load_data(data_dir):
    if data_dir:
        has_train = any(f.startswith("train-images") for f in os.listdir(data_dir))
        if has_train:
            return kiln.datasets.mnist(data_dir, train=True), kiln.datasets.mnist(data_dir, False)
        test_set = kiln.datasets.mnist(data_dir, train=False)
        n = len(test_set)
        return Subset(test_set, range(0, n - 2000)), Subset(test_set, range(n - 2000, n))
    return kiln.datasets.synthetic_digits(8000, seed=1), kiln.datasets.synthetic_digits(2000, 2)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def evaluate(model, loader):
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    with kiln.no_grad():
        for x, y in loader:
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(dim=1) == y).sum().item()
            total += y.shape[0]
    return correct / total, loss_sum / total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA if os.path.isdir(DEFAULT_DATA) else "")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    kiln.manual_seed(args.seed)
    train_set, test_set = load_data(args.data)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=500)
    print(f"data: {args.data or 'embedded synthetic digits'} "
          f"({len(train_set)} train / {len(test_set)} test)")

    model = MLP()
    optimizer = kiln.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    scheduler = kiln.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    for epoch in range(1, args.epochs + 1):
        model.train()
        start, seen, loss_sum = time.time(), 0, 0.0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * y.shape[0]
            seen += y.shape[0]
        scheduler.step()
        accuracy, test_loss = evaluate(model, test_loader)
        print(f"epoch {epoch}/{args.epochs}  train loss {loss_sum / seen:.4f}  "
              f"test loss {test_loss:.4f}  test accuracy {100 * accuracy:.2f}%  "
              f"({seen / (time.time() - start):.0f} samples/s)")
    print(f"final test accuracy {100 * accuracy:.2f}%")
    return accuracy


if __name__ == "__main__":
    main()
