"""kiln.save / kiln.load: exact round trips of state dicts (every dtype) and nested
optimizer-style objects, through paths and file objects; files exchanged with the safetensors
package both ways; failed saves and loads change nothing."""
import io
import os
import pathlib
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

import kiln
from parity import TORCH_DTYPE, numpy_of


def every_dtype_state():
    return OrderedDict([
        ("layer.weight", kiln.randn(3, 4)),
        ("layer.bias", kiln.randn(4, dtype=kiln.float64)),
        ("half", kiln.randn(2, 2).to(kiln.float16)),
        ("bf16", kiln.randn(5).to(kiln.bfloat16)),
        ("steps", kiln.tensor([1, -2, 3 << 40])),
        ("int32", kiln.tensor([7, -8], dtype=kiln.int32)),
        ("bytes", kiln.tensor([0, 255, 17], dtype=kiln.uint8)),
        ("mask", kiln.tensor([[True, False], [False, True]])),
        ("scalar", kiln.tensor(2.5)),
        ("empty", kiln.zeros(0, 3)),
    ])


def assert_identical(a, b, where="value"):
    """Same structure and types; tensors with the same dtype, shape and bits."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, kiln.Tensor):
        assert a.dtype is b.dtype and tuple(a.shape) == tuple(b.shape), where
        assert a.requires_grad == b.requires_grad, where
        np.testing.assert_array_equal(numpy_of(a), numpy_of(b), err_msg=where)
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), where
        for k in a:
            assert_identical(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, where


def optimizer_style_state():
    return {
        "state": {
            0: {"step": kiln.tensor(3.0), "exp_avg": kiln.randn(2, 2),
                "exp_avg_sq": kiln.rand(2, 2)},
            1: {"momentum_buffer": None},
        },
        "param_groups": [{
            "lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
            "amsgrad": False, "maximize": False, "foreach": None, "name": "head",
            "params": [0, 1], "extreme": [float("inf"), float("nan"), 1e308, 2 ** 70],
        }],
        (1, "tuple key"): OrderedDict(b=1, a=kiln.ones(1, requires_grad=True)),
        "a.b": kiln.zeros(1),  # collides with the dotted path of {"a": {"b": ...}}
        "a": {"b": kiln.ones(1)},
    }


def test_state_dict_of_every_dtype_round_trips_exactly(tmp_path):
    state = every_dtype_state()
    kiln.save(state, tmp_path / "model.safetensors")
    assert_identical(kiln.load(tmp_path / "model.safetensors"), state)


def test_nested_optimizer_state_round_trips(tmp_path):
    state = optimizer_style_state()
    path = str(tmp_path / "optim.safetensors")
    kiln.save(state, path)
    loaded = kiln.load(path)
    assert_identical(loaded, state)
    assert list(loaded["state"].keys()) == [0, 1]  # int keys stay ints


def test_plain_values_and_single_tensors(tmp_path):
    for obj in (kiln.arange(5), [kiln.ones(2), (1, "x")], 3.5, None, {}, kiln.Size([2, 3])):
        buffer = io.BytesIO()
        kiln.save(obj, buffer)
        buffer.seek(0)
        assert_identical(kiln.load(buffer), obj)


def test_file_objects(tmp_path):
    state = every_dtype_state()
    path = tmp_path / "via_file.safetensors"
    with open(path, "wb") as f:
        kiln.save(state, f)
    with open(path, "rb") as f:
        assert_identical(kiln.load(f), state)
    with open(path, "r", encoding="latin-1") as f:
        with pytest.raises(TypeError, match="binary mode"):
            kiln.load(f)


def test_kiln_files_load_with_the_safetensors_package(tmp_path):
    state = every_dtype_state()
    path = str(tmp_path / "k.safetensors")
    kiln.save(state, path)
    by_torch = safetensors.torch.load_file(path)
    assert sorted(by_torch) == sorted(state)
    for name, t in state.items():
        assert by_torch[name].dtype == TORCH_DTYPE[t.dtype], name
        np.testing.assert_array_equal(numpy_of(by_torch[name]), numpy_of(t), err_msg=name)
    del state["bf16"]  # NumPy has no bfloat16
    kiln.save(state, path)
    by_numpy = safetensors.numpy.load_file(path)
    for name, t in state.items():
        assert by_numpy[name].dtype == t.numpy().dtype, name
        np.testing.assert_array_equal(by_numpy[name], t.numpy(), err_msg=name)


def test_safetensors_package_files_load_in_kiln(tmp_path):
    arrays = {"w": np.random.randn(3, 2).astype(np.float32), "ids": np.arange(4),
              "b": np.array([True, False])}
    path = str(tmp_path / "np.safetensors")
    safetensors.numpy.save_file(arrays, path, metadata={"format": "np"})
    loaded = kiln.load(path)
    assert sorted(loaded) == sorted(arrays)
    for name, a in arrays.items():
        np.testing.assert_array_equal(loaded[name].numpy(), a, err_msg=name)
    tensors = {"half": torch.randn(3).half(), "bf": torch.randn(2).bfloat16()}
    data = safetensors.torch.save(tensors)
    loaded = kiln.load(io.BytesIO(data))
    for name, t in tensors.items():
        assert TORCH_DTYPE[loaded[name].dtype] == t.dtype
        np.testing.assert_array_equal(numpy_of(loaded[name]), numpy_of(t), err_msg=name)


def test_truncated_or_corrupted_files_raise_and_change_nothing(tmp_path):
    path = tmp_path / "good.safetensors"
    kiln.save(every_dtype_state(), path)
    data = path.read_bytes()
    destination = {"kept": kiln.ones(1)}
    for name, bad in [("truncated", data[:-5]), ("short", data[:6]),
                      ("header", data[:8] + b"[" + data[9:])]:
        bad_path = tmp_path / f"{name}.safetensors"
        bad_path.write_bytes(bad)
        with pytest.raises(RuntimeError, match=f"{name}.safetensors"):
            destination.update(kiln.load(bad_path))
        with pytest.raises(RuntimeError):
            destination.update(kiln.load(io.BytesIO(bad)))
    assert list(destination) == ["kept"]


def test_malformed_structure_metadata_is_reported(tmp_path):
    path = str(tmp_path / "odd.safetensors")
    safetensors.numpy.save_file({"x": np.ones(2, np.float32)}, path,
                                metadata={"kiln.structure": '{"dict": [["y", {"tensor": "y"}]]}'})
    with pytest.raises(RuntimeError, match="does not hold"):
        kiln.load(path)


def test_failed_save_leaves_the_previous_file(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    kiln.save({"w": kiln.ones(2)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="cannot store a .*object at 'opt.hook'"):
        kiln.save({"w": kiln.zeros(2), "opt": {"hook": object()}}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temporary file left behind


def test_map_location():
    buffer = io.BytesIO()
    kiln.save({"w": kiln.ones(2)}, buffer)
    for location in ("cpu", kiln.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage):
        buffer.seek(0)
        loaded = kiln.load(buffer, map_location=location)
        assert str(loaded["w"].device) == "cpu"
        np.testing.assert_array_equal(loaded["w"].numpy(), [1.0, 1.0])


def test_pathlib_and_overwrite(tmp_path):
    path = pathlib.Path(tmp_path) / "p.safetensors"
    kiln.save({"a": kiln.ones(1)}, path)
    kiln.save({"b": kiln.zeros(2)}, path)
    assert list(kiln.load(path)) == ["b"]


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FileNotFoundError):
        kiln.load(tmp_path / "absent.safetensors")
    path = str(tmp_path / "future.safetensors")
    safetensors.numpy.save_file({"x": np.ones(1, np.float32)}, path,
                                metadata={"kiln.format": "kiln.save/99"})
    with pytest.raises(RuntimeError, match="kiln.save/99"):
        kiln.load(path)
