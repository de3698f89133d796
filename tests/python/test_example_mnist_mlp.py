"""examples/python/mnist_mlp.py, the training loop a PyTorch user writes, learns: on the real
MNIST test set (first 8,000 images to train, last 2,000 to test; skipped when absent) and on
the embedded synthetic digits."""
import os
import subprocess
import sys

import pytest

from conftest import MNIST_DIR, ROOT

EXAMPLE = os.path.join(ROOT, "examples", "python", "mnist_mlp.py")


def final_accuracy(*args):
    out = subprocess.run([sys.executable, EXAMPLE, *args], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    last = out.strip().splitlines()[-1]
    assert last.startswith("final test accuracy"), out
    return float(last.split()[-1].rstrip("%"))


@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason=f"{MNIST_DIR} is absent")
def test_mnist_three_epochs_reach_95_percent():
    assert final_accuracy("--data", MNIST_DIR, "--epochs", "3") >= 95.0


def test_embedded_digits_one_epoch():
    assert final_accuracy("--data", "", "--epochs", "1") >= 95.0
