"""Factories against PyTorch: kiln.tensor's dtype inference (nested lists, bools, NumPy arrays and
scalars, tensors), dtype/device/requires_grad arguments, zeros/ones/full/empty/arange/linspace/
eye/rand/randn/randint and the *_like forms, size spellings, random ranges and seeding."""
import numpy as np
import pytest
import torch

import kiln
from parity import TORCH_DTYPE, assert_close

DATA = {
    "int_list": [[1, 2], [3, 4]],
    "float_list": [[1.0, 2.5], [3.0, 4.0]],
    "mixed_int_float": [1, 2.5, 3],
    "bools": [True, False],
    "bool_and_int": [True, 1],
    "bool_and_float": [True, 1.5],
    "tuple": (1, 2),
    "tuples": [(1, 2), (3, 4)],
    "empty": [],
    "empty_rows": [[], []],
    "int": 3,
    "float": 3.0,
    "bool": True,
    "big_int": 2 ** 62,
    "negative": [-1, -2],
    "np_float64_scalar": np.float64(2.5),
    "np_int32_scalar": np.int32(3),
    "np_float64_in_list": [1.5, np.float64(2)],
    "np_float32_and_int": [np.float32(1.5), 2],
    "np_int32_and_int": [np.int32(1), 2],
    "np_bool_in_list": [np.bool_(True)],
    "np_uint8": np.array([1, 2], dtype=np.uint8),
    "np_int32": np.array([[1, 2]], dtype=np.int32),
    "np_float16": np.array([1.5, 2.0], dtype=np.float16),
    "np_float64": np.array([0.1, 0.2]),
    "np_bool": np.array([True, False]),
    "np_transposed": np.arange(6.0).reshape(2, 3).T,
    "np_0d": np.array(5),
    "list_of_arrays": [np.array([1, 2]), np.array([3, 4])],
}


@pytest.mark.filterwarnings("ignore:In future:DeprecationWarning")  # torch reading np.bool_
@pytest.mark.filterwarnings("ignore:Creating a tensor from a list of numpy:UserWarning")
@pytest.mark.parametrize("name", list(DATA))
def test_tensor_dtype_inference_and_values(name):
    data = DATA[name]
    k, t = kiln.tensor(data), torch.tensor(data)
    assert_close(k, t, msg=name)


@pytest.mark.filterwarnings("ignore:To copy construct from a tensor:UserWarning")
def test_tensor_from_tensors_and_lists_of_tensors():
    for make in [lambda lib: [lib.tensor(1), 2.5], lambda lib: [lib.tensor(1.5, dtype=lib.float64)],
                 lambda lib: [lib.tensor(2), lib.tensor(3)], lambda lib: lib.tensor([1, 2])]:
        assert_close(kiln.tensor(make(kiln)), torch.tensor(make(torch)))
    src = kiln.ones(3, requires_grad=True)
    copy = kiln.tensor(src)
    assert not copy.requires_grad and copy.data_ptr() != src.data_ptr()


@pytest.mark.parametrize("dtype", [kiln.float64, kiln.float16, kiln.int32, kiln.uint8, kiln.bool,
                                   kiln.bfloat16, kiln.int64])
def test_tensor_with_dtype(dtype):
    data = [[0.1, 1.7], [-0.0, 3.0]] if dtype is not kiln.uint8 else [[0.1, 1.7], [2.0, 3.0]]
    assert_close(kiln.tensor(data, dtype=dtype), torch.tensor(data, dtype=TORCH_DTYPE[dtype]),
                 rtol=0, atol=0 if dtype is not kiln.bfloat16 else 1e-2)


def test_tensor_keeps_float64_precision_when_asked():
    assert kiln.tensor([0.1], dtype=kiln.float64).item() == 0.1
    assert kiln.tensor(0.1, dtype=kiln.float64).item() == 0.1


def test_tensor_refuses_what_it_cannot_read():
    with pytest.raises(TypeError, match="NoneType"):
        kiln.tensor(None)
    with pytest.raises(TypeError, match="str"):
        kiln.tensor([1, "a"])
    with pytest.raises(ValueError):
        kiln.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="complex"):
        kiln.tensor(np.array([1j]))


def test_requires_grad_and_as_tensor():
    t = kiln.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf
    with pytest.raises(TypeError, match="floating"):  # torch: RuntimeError; a dtype error here
        kiln.tensor([1, 2], requires_grad=True)
    flipped = np.arange(5)[::-1]  # torch.tensor refuses negative strides; Kiln copies
    assert kiln.tensor(flipped).tolist() == [4, 3, 2, 1, 0]
    a = np.array([1.0, 2.0])
    shared = kiln.as_tensor(a)
    a[0] = 9
    assert shared[0].item() == 9
    assert kiln.as_tensor(shared).data_ptr() == shared.data_ptr()


SHAPED = ["zeros", "ones", "empty", "rand", "randn"]


@pytest.mark.parametrize("name", SHAPED)
def test_shape_spellings_and_dtypes(name):
    fn = getattr(kiln, name)
    for args in [(2, 3), ((2, 3),), ([2, 3],), (kiln.Size([2, 3]),), (np.int64(2), 3)]:
        t = fn(*args)
        assert t.shape == (2, 3) and t.dtype is kiln.float32, args
    assert fn(()).shape == () and fn(0, 4).shape == (0, 4)
    assert fn(2, dtype=kiln.float64).dtype is kiln.float64
    assert fn(2, requires_grad=True).requires_grad
    like = getattr(kiln, name + "_like")(kiln.ones(3, 1, dtype=kiln.float64))
    assert like.shape == (3, 1) and like.dtype is kiln.float64
    with pytest.raises(NotImplementedError, match="out"):
        fn(2, out=kiln.zeros(2))
    with pytest.raises(TypeError):
        fn(2.5)


def test_zeros_ones_values_and_integer_dtypes():
    assert_close(kiln.zeros(2, 3, dtype=kiln.int32), torch.zeros(2, 3, dtype=torch.int32))
    assert_close(kiln.ones(2, dtype=kiln.bool), torch.ones(2, dtype=torch.bool))
    assert_close(kiln.ones_like(kiln.zeros(2, dtype=kiln.int64)), torch.ones(2, dtype=torch.int64))
    assert_close(kiln.zeros_like(kiln.ones(2), dtype=kiln.uint8),
                 torch.zeros(2, dtype=torch.uint8))


@pytest.mark.parametrize("fill", [3, 2.5, True, -1])
def test_full_infers_dtype_from_fill_value(fill):
    assert_close(kiln.full((2, 3), fill), torch.full((2, 3), fill))
    assert_close(kiln.full([2], fill, dtype=kiln.float64), torch.full([2], fill,
                                                                       dtype=torch.float64))
    assert_close(kiln.full_like(kiln.zeros(2, dtype=kiln.int64), fill),
                 torch.full_like(torch.zeros(2, dtype=torch.int64), fill))
    assert_close(kiln.zeros(2).new_full((3,), fill), torch.zeros(2).new_full((3,), fill))


ARANGES = [(5,), (2, 7), (0, 10, 3), (10, 0, -2), (0.0, 1.0, 0.25), (1, 2.5, 0.5), (0, 1, 0.1),
           (-3, 3), (0, 5, 1.0), (np.int64(4),), (2.0,)]


@pytest.mark.parametrize("args", ARANGES, ids=str)
def test_arange(args):
    assert_close(kiln.arange(*args), torch.arange(*args), msg=str(args))
    assert_close(kiln.arange(*args, dtype=kiln.float64), torch.arange(*args, dtype=torch.float64))


def test_arange_from_tensor_bounds_and_keywords():
    assert_close(kiln.arange(kiln.tensor(3)), torch.arange(torch.tensor(3)))
    assert_close(kiln.arange(start=1, end=4), torch.arange(start=1, end=4))
    assert_close(kiln.arange(end=4, step=2), torch.arange(0, 4, 2))


@pytest.mark.parametrize("args", [(0, 1, 5), (-2, 3, 11), (1, 1, 3), (0, 10, 1), (3, -1, 4),
                                  (0, 1, 0)], ids=str)
def test_linspace(args):
    assert_close(kiln.linspace(*args), torch.linspace(*args))
    assert_close(kiln.linspace(*args, dtype=kiln.float64), torch.linspace(*args,
                                                                        dtype=torch.float64))


@pytest.mark.parametrize("args", [(3,), (2, 4), (4, 2), (0,)], ids=str)
def test_eye(args):
    assert_close(kiln.eye(*args), torch.eye(*args))
    assert_close(kiln.eye(*args, dtype=kiln.int64), torch.eye(*args, dtype=torch.int64))
    assert_close(kiln.eye(*args, dtype=kiln.bool), torch.eye(*args, dtype=torch.bool))


def test_random_ranges_shapes_and_seeding():
    kiln.manual_seed(3)
    a = kiln.rand(1000)
    assert a.dtype is kiln.float32 and 0 <= a.min().item() and a.max().item() < 1
    assert 0.45 < a.mean().item() < 0.55
    n = kiln.randn(4000, dtype=kiln.float64)
    assert n.dtype is kiln.float64 and abs(n.mean().item()) < 0.1 and 0.9 < n.std().item() < 1.1
    r = kiln.randint(3, 10, (2000,))
    assert r.dtype is kiln.int64 and r.min().item() == 3 and r.max().item() == 9
    r = kiln.randint(4, size=(500,), dtype=kiln.int32)
    assert r.dtype is kiln.int32 and set(r.tolist()) == {0, 1, 2, 3}
    like = kiln.randint_like(kiln.zeros(300), 2, 5)
    assert like.dtype is kiln.float32 and set(like.tolist()) == {2.0, 3.0, 4.0}
    kiln.manual_seed(3)
    assert kiln.equal(kiln.rand(1000), a)
    assert kiln.initial_seed() == 3
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        kiln.rand(2, dtype=kiln.int64)
    with pytest.raises(ValueError):
        kiln.randint(5, 5, (2,))


def test_bernoulli():
    p = kiln.full((2000,), 0.3)
    draws = kiln.bernoulli(p)
    assert set(draws.tolist()) <= {0.0, 1.0} and 0.25 < draws.mean().item() < 0.35
    assert p.bernoulli().shape == (2000,)


def test_scalar_tensor_and_new_tensor():
    assert_close(kiln.scalar_tensor(3), torch.scalar_tensor(3))
    assert_close(kiln.scalar_tensor(True, dtype=kiln.bool), torch.scalar_tensor(True,
                                                                               dtype=torch.bool))
    base = kiln.zeros(2, dtype=kiln.float64)
    assert_close(base.new_tensor([1, 2]), torch.zeros(2, dtype=torch.float64).new_tensor([1, 2]))
    assert_close(base.new_zeros(2, 3), torch.zeros(2, dtype=torch.float64).new_zeros(2, 3))
    assert_close(base.new_ones((1,)), torch.zeros(2, dtype=torch.float64).new_ones((1,)))


def test_dtype_objects_and_promotion_queries():
    assert kiln.float is kiln.float32 and kiln.double is kiln.float64 and kiln.long is kiln.int64
    assert kiln.int is kiln.int32 and kiln.half is kiln.float16
    assert repr(kiln.float32) == "kiln.float32"
    assert kiln.float32.is_floating_point and not kiln.int64.is_floating_point
    assert kiln.float64.itemsize == 8 and kiln.bool.itemsize == 1
    assert kiln.tensor([1]).dtype is kiln.int64  # singletons: `is` works as in torch
    names = ["bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
    for a in names:
        for b in names:
            got = kiln.promote_types(getattr(kiln, a), getattr(kiln, b))
            assert TORCH_DTYPE[got] == torch.promote_types(getattr(torch, a), getattr(torch, b))
            assert kiln.can_cast(getattr(kiln, a), getattr(kiln, b)) == \
                torch.can_cast(getattr(torch, a), getattr(torch, b))
    x = kiln.ones(2, dtype=kiln.int32)
    assert kiln.result_type(x, 2.5) is kiln.float32 and kiln.result_type(x, 2) is kiln.int32
    assert kiln.result_type(x, kiln.ones(2)) is kiln.float32
    assert kiln.get_default_dtype() is kiln.float32
    assert kiln.zeros(2, dtype=float).dtype is kiln.float64  # Python types, like torch
    assert kiln.zeros(2, dtype=int).dtype is kiln.int64
