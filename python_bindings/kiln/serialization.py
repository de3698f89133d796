"""kiln.save / kiln.load: checkpoints as safetensors files instead of pickles.

A dict (or OrderedDict) of str -> Tensor, such as a module's state_dict, is stored as exactly
those named tensors, so the file loads with safetensors.torch.load_file / safetensors.numpy and
any safetensors reader. Other objects made of dicts, lists, tuples, kiln.Size, tensors, numbers,
strings and None (an optimizer's state_dict: {'state': {0: {...}}, 'param_groups': [...]}) are
stored as their tensors under dotted path names ("state.0.exp_avg") plus the structure, as JSON,
in the file's metadata ("kiln.structure"); load rebuilds the same object, int dict keys and
tuples included. A safetensors file without that metadata loads as a dict of its tensors in file
order.

Differences from torch.save/torch.load, which pickle: arbitrary Python objects (a whole module,
a custom class) are refused with a TypeError; tensors that are the same object or share storage
are stored, and loaded, as separate tensors; requires_grad and the device of every tensor are
kept. Saving to a path is atomic (a temporary file renamed over the target), so a failed save
leaves the previous file as it was; a load validates the whole file before returning anything.
"""
import json
import os
import pickle
from collections import OrderedDict

from . import _C
from ._tensor import Size

__all__ = ["save", "load"]

KILN_FORMAT = "kiln.save/1"
KILN_FORMAT_KEY = "kiln.format"
KILN_STRUCTURE = "kiln.structure"


class _Flattener:
    """Walks an object: collects its tensors under unique path names and returns a JSON-able
    description of everything else (scalars as themselves, containers tagged by type)."""

    def __init__(self):
        self.names, self.tensors = [], []
        self._used = set()

    def _name(self, path):
        name = ".".join(path) if path else "tensor"
        unique, n = name, 1
        while unique in self._used:  # a key containing "." could collide with a nested path
            unique, n = f"{name}#{n}", n + 1
        self._used.add(unique)
        return unique

    def encode(self, obj, path):
        if isinstance(obj, _C.Tensor):
            if path is None:
                raise TypeError("kiln.save: tensors cannot be dict keys in a saved object")
            name = self._name(path)
            self.names.append(name)
            self.tensors.append(obj.detach())
            entry = {"tensor": name}
            if obj.requires_grad:
                entry["requires_grad"] = True
            if str(obj.device) != "cpu":
                entry["device"] = str(obj.device)
            return entry
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        path = path or []
        if type(obj) in (dict, OrderedDict):
            items = [[self.encode(k, None), self.encode(v, path + [str(k)])]
                     for k, v in obj.items()]
            return {"ordered_dict" if type(obj) is OrderedDict else "dict": items}
        if type(obj) is list:
            return [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]
        if type(obj) in (tuple, Size):
            kind = "tuple" if type(obj) is tuple else "size"
            return {kind: [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]}
        if type(obj).__module__ == "numpy" and getattr(obj, "ndim", None) == 0:
            return self.encode(obj.item(), path)  # a NumPy scalar
        where = f" at '{'.'.join(path)}'" if path else ""
        raise TypeError(f"kiln.save: cannot store a {type(obj).__module__}."
                        f"{type(obj).__qualname__}{where}: safetensors files hold tensors, "
                        f"plus dicts, lists, tuples, numbers, strings and None around them "
                        f"(save a module through its state_dict())")


def _flatten(obj):
    """(names, tensors, metadata) for `obj`. A str -> Tensor dict gets its keys as the names."""
    f = _Flattener()
    structure = f.encode(obj, [])
    metadata = {KILN_FORMAT_KEY: KILN_FORMAT,
                KILN_STRUCTURE: json.dumps(structure, separators=(",", ":"))}
    return f.names, f.tensors, metadata


def save(obj, f):
    """Writes `obj` to `f`, a path (str or os.PathLike) or a binary file object, as
    safetensors."""
    names, tensors, metadata = _flatten(obj)
    if isinstance(f, (str, os.PathLike)):
        _C._save_safetensors(os.fsdecode(f), names, tensors, metadata)
        return
    if not hasattr(f, "write"):
        raise TypeError(f"kiln.save: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
    data = _C._serialize_safetensors(names, tensors, metadata)
    f.write(data)


def _read(f):
    """(names, tensors, metadata, description of f)."""
    if isinstance(f, (str, os.PathLike)):
        path = os.fsdecode(f)
        with open(path, "rb") as fh:  # FileNotFoundError and friends, as torch.load raises
            return (*_C._deserialize_safetensors(fh.read(), path), path)
    if not hasattr(f, "read"):
        raise TypeError(f"kiln.load: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
    data = f.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"kiln.load: the file object returned {type(data).__name__} from "
                        f"read(); open it in binary mode ('rb')")
    source = getattr(f, "name", None)
    source = source if isinstance(source, str) else "<file object>"
    return (*_C._deserialize_safetensors(bytes(data), source), source)


class _Rebuilder:
    """Turns the JSON structure back into Python objects, tensors taken by name."""

    def __init__(self, tensors, map_location, source):
        self.tensors = tensors
        self.map_location = map_location
        self.source = source

    def fail(self, what):
        raise RuntimeError(f"kiln.load: '{self.source}': the {KILN_STRUCTURE} metadata is "
                           f"malformed: {what}")

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            self.fail(f"unexpected {type(node).__name__}")
        if "tensor" in node:
            return self.tensor(node)
        if len(node) != 1:
            self.fail(f"unknown entry {node}")
        (kind, items), = node.items()
        if kind in ("tuple", "size") and isinstance(items, list):
            values = tuple(self.decode(v) for v in items)
            return values if kind == "tuple" else Size(values)
        if kind in ("dict", "ordered_dict") and isinstance(items, list):
            out = OrderedDict() if kind == "ordered_dict" else {}
            for pair in items:
                if not isinstance(pair, list) or len(pair) != 2:
                    self.fail("a dict item is not a [key, value] pair")
                key = self.decode(pair[0])
                if isinstance(key, list):
                    self.fail("a dict key is a list")
                out[key] = self.decode(pair[1])
            return out
        self.fail(f"unknown entry kind '{kind}'")

    def tensor(self, node):
        name = node["tensor"]
        if not isinstance(name, str) or name not in self.tensors:
            self.fail(f"it refers to a tensor '{name}' that the file does not hold")
        device = node.get("device", "cpu")
        try:
            t = _place(self.tensors[name], device, self.map_location)
        except RuntimeError as e:
            raise RuntimeError(f"kiln.load: '{self.source}': tensor '{name}' was saved on "
                               f"{device} and cannot be placed there ({e}); pass "
                               f"map_location='cpu' to load it on the CPU") from None
        return t.requires_grad_(True) if node.get("requires_grad") else t


def _place(t, saved_device, map_location):
    """`t` (loaded on the CPU) on its device: the saved one, or where map_location says (a
    device or string, a dict from saved device to device, or f(tensor, saved_device) ->
    tensor)."""
    if map_location is None:
        target = saved_device
    elif callable(map_location) and not isinstance(map_location, (str, _C.device)):
        out = map_location(t, saved_device)
        if not isinstance(out, _C.Tensor):
            raise TypeError(f"kiln.load: map_location returned a {type(out).__name__}; expected "
                            f"a Tensor")
        return out
    elif isinstance(map_location, dict):
        target = map_location.get(saved_device, saved_device)
    else:
        target = map_location
    return t if str(target) == "cpu" else t.to(_C.device(str(target)))


def load(f, map_location=None, pickle_module=None, *, weights_only=False, **kwargs):
    """Reads an object written by kiln.save (or any safetensors file, as a dict of its
    tensors) from a path or a binary file object."""
    if (pickle_module is not None and pickle_module is not pickle) or kwargs:
        raise TypeError("kiln.load: pickle options do not apply; Kiln checkpoints are "
                        "safetensors files, which contain no pickled objects")
    names, tensors, metadata, source = _read(f)
    by_name = dict(zip(names, tensors))
    written_by = metadata.get(KILN_FORMAT_KEY, KILN_FORMAT)
    if written_by != KILN_FORMAT:
        raise RuntimeError(f"kiln.load: '{source}' was written in the format '{written_by}', "
                           f"which this Kiln (reading '{KILN_FORMAT}') does not know")
    structure = metadata.get(KILN_STRUCTURE)
    if structure is None:
        return {name: _place(t, "cpu", map_location) for name, t in by_name.items()}
    try:
        tree = json.loads(structure)
    except ValueError as e:
        raise RuntimeError(f"kiln.load: '{source}': the {KILN_STRUCTURE} metadata is not "
                           f"JSON: {e}") from None
    return _Rebuilder(by_name, map_location, source).decode(tree)
