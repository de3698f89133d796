"""default_collate and default_convert with torch.utils.data's rules: tensors are stacked along
a new first dimension, Python floats become float64 tensors and ints int64 ones, NumPy arrays
and scalars keep their dtype, strings stay as they are, and mappings, named tuples and
sequences are collated field by field (a tuple of fields comes back as a list, as in PyTorch).
"""
import collections.abc
import re

import numpy as np

from ... import _C

__all__ = ["default_collate", "default_convert", "collate", "default_collate_fn_map"]

_NP_STRING_OR_OBJECT = re.compile(r"[SaUO]")  # dtype kinds that cannot become tensors

_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
          "found {}")


def _tensor(data, dtype=None):
    from ... import tensor
    return tensor(data, dtype=dtype)


def _as_tensor(data):
    from ... import as_tensor
    return as_tensor(data)


def default_convert(data):
    """Converts NumPy arrays and scalars (also inside mappings and sequences) to tensors; the
    collate_fn when DataLoader does not batch (batch_size=None)."""
    elem_type = type(data)
    if isinstance(data, _C.Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_"):
        if isinstance(data, np.ndarray) and _NP_STRING_OR_OBJECT.search(data.dtype.str):
            return data
        return _as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        try:
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def _collate_tensors(batch, *, collate_fn_map=None):
    from ... import stack
    return stack(list(batch), 0)


def _collate_numpy_arrays(batch, *, collate_fn_map=None):
    if _NP_STRING_OR_OBJECT.search(batch[0].dtype.str):
        raise TypeError(_ERROR.format(batch[0].dtype))
    return collate([_as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def _collate_numpy_scalars(batch, *, collate_fn_map=None):
    array = np.asarray(batch)
    if _NP_STRING_OR_OBJECT.search(array.dtype.str):
        raise TypeError(_ERROR.format(array.dtype))
    return _as_tensor(array)


def _collate_floats(batch, *, collate_fn_map=None):
    return _tensor(list(batch), dtype=_C.float64)


def _collate_ints(batch, *, collate_fn_map=None):
    return _tensor(list(batch))  # int64, or bool for Python bools, as in PyTorch


def _collate_strings(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map = {
    _C.Tensor: _collate_tensors,
    np.ndarray: _collate_numpy_arrays,
    (np.bool_, np.number, np.object_): _collate_numpy_scalars,
    float: _collate_floats,
    int: _collate_ints,
    (str, bytes): _collate_strings,
}


def collate(batch, *, collate_fn_map=None):
    """Collates `batch` (a list of samples), using collate_fn_map[type] for the leaf types."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type, fn in collate_fn_map.items():
            if isinstance(elem, collate_type):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        fields = {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                  for key in elem}
        try:
            return elem_type(fields)
        except TypeError:
            return fields
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(samples, collate_fn_map=collate_fn_map)
                           for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [collate(samples, collate_fn_map=collate_fn_map)
                   for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return columns  # a list, as in PyTorch
        try:
            return elem_type(columns)
        except TypeError:
            return columns
    raise TypeError(_ERROR.format(elem_type))


def default_collate(batch):
    """Merges a list of samples into a batch (the DataLoader's default collate_fn)."""
    return collate(batch, collate_fn_map=default_collate_fn_map)
