"""kiln.utils.data against torch.utils.data: the batches of DataLoader (values, dtypes and
container types) for the same datasets, samplers, lengths and argument errors; shuffling gives
permutations that kiln.manual_seed (or a Generator) reproduces; random_split."""
import collections

import numpy as np
import pytest
import torch
import torch.utils.data as td

import kiln
import kiln.utils.data as kd
from parity import TORCH_DTYPE


def assert_same_batch(k, t, where="batch"):
    """Same container types all the way down, tensors of the same dtype and values."""
    if isinstance(t, torch.Tensor):
        assert isinstance(k, kiln.Tensor), f"{where}: {type(k).__name__} instead of a Tensor"
        assert TORCH_DTYPE[k.dtype] == t.dtype, f"{where}: {k.dtype} vs {t.dtype}"
        np.testing.assert_array_equal(k.numpy(), t.numpy(), err_msg=where)
        return
    assert type(k).__name__ == type(t).__name__, f"{where}: {type(k)} vs {type(t)}"
    if isinstance(t, dict):
        assert list(k) == list(t), where
        for key in t:
            assert_same_batch(k[key], t[key], f"{where}[{key!r}]")
    elif isinstance(t, (list, tuple)):
        assert len(k) == len(t), where
        for i, (a, b) in enumerate(zip(k, t)):
            assert_same_batch(a, b, f"{where}[{i}]")
    else:
        assert k == t, where


def assert_same_loader(kiln_loader, torch_loader):
    k_batches, t_batches = list(kiln_loader), list(torch_loader)
    assert len(kiln_loader) == len(torch_loader) == len(t_batches) == len(k_batches)
    for i, (k, t) in enumerate(zip(k_batches, t_batches)):
        assert_same_batch(k, t, f"batch {i}")


Point = collections.namedtuple("Point", "x y")


class Records:
    """A map-style dataset of mixed samples, built the same way for both libraries."""

    def __init__(self, lib, n=7):
        self.lib, self.n = lib, n
        self.features = np.random.randn(n, 3).astype(np.float32)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {
            "image": self.lib.tensor(self.features[i]),
            "label": i % 3,
            "weight": 0.5 * i,
            "flag": i % 2 == 0,
            "name": f"sample{i}",
            "array": np.arange(i, i + 2, dtype=np.int32),
            "pair": (i, float(i)),
            "point": Point(np.float32(i), [i, i + 1]),
        }


def tensor_datasets(n=10):
    x = np.random.randn(n, 2).astype(np.float32)
    y = np.arange(n)
    return (kd.TensorDataset(kiln.tensor(x), kiln.tensor(y)),
            td.TensorDataset(torch.tensor(x), torch.tensor(y)))


@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (3, False), (3, True), (10, True),
                                                   (4, True)])
def test_tensor_dataset_batches_match_torch(batch_size, drop_last):
    k_ds, t_ds = tensor_datasets()
    assert_same_loader(kd.DataLoader(k_ds, batch_size=batch_size, drop_last=drop_last),
                       td.DataLoader(t_ds, batch_size=batch_size, drop_last=drop_last))


def test_collate_of_dicts_numbers_strings_arrays_tuples_matches_torch():
    np.random.seed(1)
    k_ds = Records(kiln)
    np.random.seed(1)
    t_ds = Records(torch)
    assert_same_loader(kd.DataLoader(k_ds, batch_size=3), td.DataLoader(t_ds, batch_size=3))


def test_without_batching_samples_are_converted_like_torch():
    samples = [(np.ones(2), 1.5, "a"), (np.zeros(2), 2.5, "b")]
    k = list(kd.DataLoader(samples, batch_size=None))
    t = list(td.DataLoader(samples, batch_size=None))
    assert len(k) == len(t) == 2
    for a, b in zip(k, t):
        assert_same_batch(a, b)


@pytest.mark.parametrize("batch", [
    [1, 2, 3], [1.0, 2.5], [True, False], [np.float32(1), np.float32(2)],
    [np.int32(1), np.int32(5)], [[1, 2], [3, 4]], [(1, "x"), (2, "y")],
    [{"a": np.ones((2, 2), np.float64)}, {"a": np.zeros((2, 2), np.float64)}],
])
def test_default_collate_matches_torch(batch):
    assert_same_batch(kd.default_collate(batch), td.default_collate(batch))


def test_default_collate_errors_like_torch():
    with pytest.raises(TypeError, match="batch must contain tensors"):
        kd.default_collate([object(), object()])
    with pytest.raises(RuntimeError, match="equal size"):
        kd.default_collate([[1, 2], [3]])


def test_custom_collate_fn_and_batch_sampler():
    k_ds, t_ds = tensor_datasets(6)
    batches = [[5, 0], [1, 2, 3], [4]]
    k = kd.DataLoader(k_ds, batch_sampler=batches, collate_fn=lambda b: b)
    t = td.DataLoader(t_ds, batch_sampler=batches, collate_fn=lambda b: b)
    assert_same_loader(k, t)


def test_iterable_dataset_matches_torch():
    def make(lib, base):
        class Stream(base):
            def __iter__(self):
                for i in range(7):
                    yield lib.tensor([i, i * i])

            def __len__(self):
                return 7
        return Stream()

    for drop_last in (False, True):
        assert_same_loader(
            kd.DataLoader(make(kiln, kd.IterableDataset), batch_size=3, drop_last=drop_last),
            td.DataLoader(make(torch, td.IterableDataset), batch_size=3, drop_last=drop_last))
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        kd.DataLoader(make(kiln, kd.IterableDataset), shuffle=True)


def test_shuffle_is_a_permutation_reproducible_under_manual_seed():
    k_ds, _ = tensor_datasets(20)

    def epoch_order(loader):
        return [int(i) for _, labels in loader for i in labels]

    loader = kd.DataLoader(k_ds, batch_size=6, shuffle=True)
    kiln.manual_seed(123)
    first, second = epoch_order(loader), epoch_order(loader)
    assert sorted(first) == sorted(second) == list(range(20))
    assert first != second, "each epoch draws a new order"
    assert first != list(range(20))
    kiln.manual_seed(123)
    assert epoch_order(loader) == first
    assert [len(labels) for _, labels in loader] == [6, 6, 6, 2]


def test_generator_gives_its_own_reproducible_order():
    k_ds, _ = tensor_datasets(12)

    def order(seed):
        g = kd.Generator().manual_seed(seed)
        return [int(i) for _, labels in kd.DataLoader(k_ds, batch_size=5, shuffle=True,
                                                       generator=g) for i in labels]

    assert order(7) == order(7)
    assert order(7) != order(8)
    assert sorted(order(7)) == list(range(12))


def test_samplers_match_torch_where_deterministic():
    seq = list(range(7))
    assert list(kd.BatchSampler(kd.SequentialSampler(seq), 3, False)) == \
        list(td.BatchSampler(td.SequentialSampler(seq), 3, False))
    assert len(kd.BatchSampler(seq, 3, True)) == len(td.BatchSampler(seq, 3, True)) == 2
    indices = [4, 8, 15, 16, 23, 42]
    assert sorted(kd.SubsetRandomSampler(indices)) == indices
    drawn = list(kd.RandomSampler(seq, replacement=True, num_samples=50))
    assert len(drawn) == 50 and set(drawn) <= set(seq)
    longer = list(kd.RandomSampler(seq, num_samples=10))
    assert len(longer) == 10 and sorted(longer[:7]) == seq
    weighted = list(kd.WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 40))
    assert set(weighted) == {1, 3}
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        kd.BatchSampler(seq, 0, False)


def test_loader_argument_errors_match_torch():
    k_ds, t_ds = tensor_datasets(4)
    cases = [
        dict(sampler=[0, 1], shuffle=True),
        dict(batch_sampler=[[0]], batch_size=2),
        dict(batch_size=None, drop_last=True),
        dict(num_workers=-1),
        dict(persistent_workers=True),
    ]
    for kwargs in cases:
        with pytest.raises(ValueError) as k_err:
            kd.DataLoader(k_ds, **kwargs)
        with pytest.raises(ValueError) as t_err:
            td.DataLoader(t_ds, **kwargs)
        assert str(k_err.value) == str(t_err.value), kwargs
    loader = kd.DataLoader(k_ds)
    with pytest.raises(ValueError, match="should not be set after"):
        loader.batch_size = 3


def test_workers_load_the_same_batches_in_process():
    k_ds, t_ds = tensor_datasets(9)
    assert_same_loader(kd.DataLoader(k_ds, batch_size=4, num_workers=2),
                       td.DataLoader(t_ds, batch_size=4))


def test_random_split_sizes_and_disjointness():
    data = list(range(10))
    for lengths in ([3, 7], [0.33, 0.67], [0.5, 0.25, 0.25]):
        k_parts = kd.random_split(data, lengths)
        t_parts = td.random_split(data, lengths)
        assert [len(p) for p in k_parts] == [len(p) for p in t_parts]
        seen = [x for p in k_parts for x in p]
        assert sorted(seen) == data
    g1, g2 = kd.Generator().manual_seed(3), kd.Generator().manual_seed(3)
    assert list(kd.random_split(data, [5, 5], generator=g1)[0]) == \
        list(kd.random_split(data, [5, 5], generator=g2)[0])
    with pytest.raises(ValueError, match="Sum of input lengths"):
        kd.random_split(data, [3, 3])


def test_subset_and_concat_datasets_match_torch():
    k_ds, t_ds = tensor_datasets(5)
    k_cat = kd.ConcatDataset([kd.Subset(k_ds, [4, 0]), k_ds])
    t_cat = td.ConcatDataset([td.Subset(t_ds, [4, 0]), t_ds])
    assert len(k_cat) == len(t_cat) == 7
    for i in (0, 1, 2, 6, -1, -7):
        assert_same_batch(k_cat[i], t_cat[i], f"item {i}")
    assert_same_batch(list(k_ds + k_ds)[7], list(t_ds + t_ds)[7])
    with pytest.raises(ValueError, match="Size mismatch"):
        kd.TensorDataset(kiln.ones(2), kiln.ones(3))
