"""kiln.utils.data.distributed.DistributedSampler: torch.utils.data.distributed's sampler, the
shard of a dataset one rank of a data-parallel job visits.

Every rank orders range(len(dataset)) the same way (a permutation seeded with seed + epoch, or
in order), pads it by wrapping around to a multiple of num_replicas (or cuts the tail with
drop_last) and takes every num_replicas-th index from position rank: shards are disjoint
before the padding, cover the dataset and have equal lengths. The arithmetic is torch's; the
permutation comes from Kiln's generator, so for the same seed the shuffled order differs from
torch's (without shuffle it is torch's).
"""
import math

from .generator import Generator, randperm
from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            from ... import distributed as dist
            if not dist.is_available():
                raise RuntimeError("Requires distributed package to be available")
            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        if self.drop_last and len(self.dataset) % self.num_replicas != 0:
            self.num_samples = math.ceil((len(self.dataset) - self.num_replicas) /
                                         self.num_replicas)
        else:
            self.num_samples = math.ceil(len(self.dataset) / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def _permutation(self, n):
        """The shuffled order of one epoch: identical on every rank (same seed and epoch)."""
        g = Generator()
        g.manual_seed(self.seed + self.epoch)
        return randperm(n, g)

    def __iter__(self):
        n = len(self.dataset)
        indices = self._permutation(n) if self.shuffle else list(range(n))
        if not self.drop_last:
            padding_size = self.total_size - len(indices)
            if padding_size <= len(indices):
                indices += indices[:padding_size]
            else:
                indices += (indices * math.ceil(padding_size / len(indices)))[:padding_size]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        indices = indices[self.rank:self.total_size:self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """The epoch of the next iteration: with shuffle, each epoch has its own order."""
        self.epoch = epoch
