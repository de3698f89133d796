"""pytest set-up for the Python tests: import `kiln` from this checkout (python_bindings/, with
the extension from build/ or $KILN_BUILD_DIR) whether or not scripts/build.sh registered it, and
fix the seeds so every run draws the same inputs."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python_bindings"))
sys.path.insert(0, os.path.join(ROOT, ".cache", "pydeps"))  # safetensors from PyPI

import numpy as np  # noqa: E402
import torch  # noqa: E402

import kiln  # noqa: E402

MNIST_DIR = os.path.join(os.path.dirname(ROOT), "shared", "data", "mnist-t10k")


@pytest.fixture(autouse=True)
def _seeds():
    np.random.seed(0)
    torch.manual_seed(0)
    kiln.manual_seed(0)
    yield
