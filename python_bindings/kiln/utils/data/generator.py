"""Random draws for data loading: kiln.utils.data.Generator (torch.Generator's seeding API) and
the permutations the samplers and random_split take from it.

Without an explicit generator, each permutation is seeded by one draw from Kiln's default
generator, so shuffling is reproducible under kiln.manual_seed. A Generator object gives an
independent stream (numpy's counter-based Philox), as torch.Generator().manual_seed(s) does in
PyTorch. The orders differ from PyTorch's, whose generator is a different algorithm.
"""
import os

import numpy as np

__all__ = ["Generator"]

_DEFAULT_SEED = 67280421310721  # PyTorch's default seed


class Generator:
    """A seeded source of random orders for samplers, DataLoader and random_split."""

    def __init__(self, device="cpu"):
        if str(device) != "cpu":
            raise ValueError(f"Generator: only CPU generators exist in Kiln, got device={device}")
        self.device = device
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed += 1 << 64  # PyTorch accepts negative seeds as their two's complement
        if not 0 <= seed < (1 << 64):
            raise RuntimeError(f"Generator.manual_seed: seed must be within [-2^63, 2^64), got "
                               f"{seed}")
        self._seed = seed
        self._rng = np.random.Generator(np.random.Philox(seed))
        return self

    def seed(self):
        """Reseeds from the operating system's entropy and returns the new seed."""
        seed = int.from_bytes(os.urandom(8), "little") >> 1
        self.manual_seed(seed)
        return seed

    def initial_seed(self):
        return self._seed

    def _numpy(self):
        return self._rng


def _rng(generator):
    """The numpy generator to draw from: `generator`'s, or a fresh one seeded from Kiln's
    default generator (one draw, so kiln.manual_seed fixes it)."""
    if generator is None:
        from ... import randint as kiln_randint
        seed = int(kiln_randint(0, 1 << 53, (1,)).item())
        return np.random.Generator(np.random.Philox(seed))
    if not isinstance(generator, Generator):
        raise TypeError(f"generator: expected a kiln Generator, got {type(generator).__name__}")
    return generator._numpy()


def randperm(n, generator=None):
    """A random permutation of range(n), as a list of ints."""
    return _rng(generator).permutation(n).tolist()


def randint(high, size, generator=None):
    return _rng(generator).integers(0, high, size=size).tolist()


def choice(n, size, probabilities, replacement, generator=None):
    return _rng(generator).choice(n, size=size, replace=replacement, p=probabilities).tolist()
