"""Memory formats against torch: kiln.channels_last / channels_last_3d / contiguous_format /
preserve_format, Tensor.contiguous / is_contiguous / to(memory_format=...), nn.Module.to(
memory_format=...), and the formats elementwise results and conversions keep. Strides are
compared with torch's for the same shapes; values must not change."""
import pickle

import numpy as np
import pytest
import torch

import kiln

SHAPES_4D = [(2, 3, 4, 5), (2, 1, 4, 5), (2, 3, 1, 1), (1, 3, 4, 5), (3, 2, 1, 4)]
SHAPES_5D = [(2, 3, 2, 4, 5), (1, 2, 1, 3, 1)]


def pair(shape, dtype=np.float32):
    a = np.random.standard_normal(shape).astype(dtype)
    return kiln.from_numpy(a.copy()), torch.from_numpy(a.copy())


def formats():
    return [(kiln.contiguous_format, torch.contiguous_format),
            (kiln.channels_last, torch.channels_last),
            (kiln.channels_last_3d, torch.channels_last_3d)]


def test_format_objects():
    assert repr(kiln.channels_last) == "kiln.channels_last"
    assert repr(kiln.channels_last_3d) == "kiln.channels_last_3d"
    assert repr(kiln.contiguous_format) == "kiln.contiguous_format"
    assert repr(kiln.preserve_format) == "kiln.preserve_format"
    assert isinstance(kiln.channels_last, kiln.memory_format)
    assert kiln.channels_last is not kiln.contiguous_format
    assert pickle.loads(pickle.dumps(kiln.channels_last)) is kiln.channels_last


@pytest.mark.parametrize("shape", SHAPES_4D + SHAPES_5D)
def test_contiguous_strides_and_is_contiguous_match_torch(shape):
    k, t = pair(shape)
    for kf, tf in formats():
        if (tf is torch.channels_last and len(shape) != 4) or \
                (tf is torch.channels_last_3d and len(shape) != 5):
            continue
        kc, tc = k.contiguous(memory_format=kf), t.contiguous(memory_format=tf)
        assert kc.stride() == tc.stride(), (shape, tf)
        np.testing.assert_array_equal(kc.numpy(), tc.numpy())
        for kq, tq in formats():
            if tq is torch.contiguous_format or len(shape) == (4 if tq is torch.channels_last
                                                               else 5):
                assert kc.is_contiguous(memory_format=kq) == tc.is_contiguous(memory_format=tq), \
                    (shape, tf, tq)
        assert kc.is_contiguous() == tc.is_contiguous()


def test_contiguous_returns_self_when_already_in_the_format():
    k, _ = pair((2, 3, 4, 5))
    kc = k.contiguous(memory_format=kiln.channels_last)
    assert kc.contiguous(memory_format=kiln.channels_last) is kc
    assert k.contiguous(memory_format=kiln.contiguous_format) is k
    assert k.contiguous() is k


@pytest.mark.parametrize("shape", SHAPES_4D)
def test_to_memory_format_matches_torch(shape):
    k, t = pair(shape)
    kc = k.to(memory_format=kiln.channels_last)
    tc = t.to(memory_format=torch.channels_last)
    assert kc.stride() == tc.stride()
    kd = k.to(kiln.float64, memory_format=kiln.channels_last)
    td = t.to(torch.float64, memory_format=torch.channels_last)
    assert kd.stride() == td.stride() and kd.dtype == kiln.float64
    np.testing.assert_array_equal(kd.numpy(), td.numpy())
    kv = k.to("cpu", memory_format=kiln.channels_last)
    assert kv.stride() == tc.stride()
    # Conversions without a format keep the tensor's (preserve_format), as torch's.
    assert kc.to(kiln.float64).stride() == tc.to(torch.float64).stride()
    assert kc.half().stride() == tc.half().stride()
    assert kc.to(kiln.float16, memory_format=kiln.preserve_format).stride() == \
        tc.to(torch.float16, memory_format=torch.preserve_format).stride()
    # And back.
    kb = kc.to(memory_format=kiln.contiguous_format)
    assert kb.stride() == tc.to(memory_format=torch.contiguous_format).stride()
    np.testing.assert_array_equal(kb.numpy(), t.numpy())


def test_elementwise_results_keep_channels_last_like_torch():
    k, t = pair((2, 3, 4, 5))
    k2, t2 = pair((2, 3, 4, 5))
    kb, tb = pair((1, 3, 1, 1))
    kx, tx = k.contiguous(memory_format=kiln.channels_last), t.contiguous(
        memory_format=torch.channels_last)
    ky, ty = k2.contiguous(memory_format=kiln.channels_last), t2.contiguous(
        memory_format=torch.channels_last)
    cases = [
        (kiln.relu(kx), torch.relu(tx)),
        (kx + ky, tx + ty),
        (kx * kb, tx * tb),
        (kx * 2.5, tx * 2.5),
        (kiln.exp(kx) - ky, torch.exp(tx) - ty),
        (kx > ky, tx > ty),
        (kiln.where(kx > ky, kx, ky), torch.where(tx > ty, tx, ty)),
        (kiln.relu(kx + ky), torch.relu(tx + ty)),
    ]
    for i, (kr, tr) in enumerate(cases):
        assert kr.stride() == tr.stride(), i
        assert kr.is_contiguous(memory_format=kiln.channels_last), i
        np.testing.assert_allclose(kr.numpy().astype(np.float64), tr.numpy().astype(np.float64),
                                   rtol=1e-6, atol=1e-6, err_msg=str(i))


def test_gradients_flow_through_format_conversions():
    k, t = pair((2, 3, 4, 5))
    k.requires_grad_()
    t.requires_grad_()
    w = np.random.standard_normal((2, 3, 4, 5)).astype(np.float32)
    kiln_out = (k.contiguous(memory_format=kiln.channels_last) * 3.0).relu()
    torch_out = (t.contiguous(memory_format=torch.channels_last) * 3.0).relu()
    (kiln_out * kiln.from_numpy(w)).sum().backward()
    (torch_out * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(k.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-6)
    assert k.grad.stride() == t.grad.stride()


def test_module_to_memory_format_matches_torch():
    km = kiln.nn.Sequential(kiln.nn.Conv2d(3, 4, 3), kiln.nn.Flatten(), kiln.nn.Linear(4, 2))
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    km.load_state_dict({n: kiln.from_numpy(p.detach().numpy().copy())
                        for n, p in tm.state_dict().items()})
    params = list(km.parameters())
    assert km.to(memory_format=kiln.channels_last) is km
    tm.to(memory_format=torch.channels_last)
    kp, tp = dict(km.named_parameters()), dict(tm.named_parameters())
    for name in tp:
        assert kp[name].stride() == tp[name].stride(), name
        np.testing.assert_array_equal(kp[name].detach().numpy(), tp[name].detach().numpy())
    assert [id(p) for p in km.parameters()] == [id(p) for p in params]  # same Parameter objects
    assert kp["0.weight"].is_contiguous(memory_format=kiln.channels_last)
    # Combined with a dtype.
    km.to(kiln.float64, memory_format=kiln.channels_last)
    tm.to(torch.float64, memory_format=torch.channels_last)
    assert kp["0.weight"].dtype == kiln.float64
    assert kp["0.weight"].stride() == tp["0.weight"].stride()


def test_errors():
    k, t = pair((2, 3, 4))
    with pytest.raises(Exception, match="channels_last"):
        k.contiguous(memory_format=kiln.channels_last)
    with pytest.raises(Exception):
        t.contiguous(memory_format=torch.channels_last)  # torch refuses a 3-D tensor as well
    with pytest.raises(Exception, match="channels_last_3d"):
        pair((2, 3, 4, 5))[0].to(memory_format=kiln.channels_last_3d)
    with pytest.raises(TypeError, match="memory_format"):
        k.contiguous(memory_format="channels_last")
    with pytest.raises(TypeError, match="memory_format"):
        kiln.nn.Linear(2, 2).to(memory_format="channels_last")
    with pytest.raises(RuntimeError, match="preserve_format"):
        k.is_contiguous(memory_format=kiln.preserve_format)


@pytest.mark.skipif(not kiln.cuda.is_available(), reason="no CUDA device: device copies not run")
def test_device_copies_keep_the_format():
    k, t = pair((2, 3, 4, 5))
    kc = k.contiguous(memory_format=kiln.channels_last)
    g = kc.to("cuda")
    assert g.stride() == kc.stride()
    assert kiln.relu(g).stride() == kc.stride()
    np.testing.assert_array_equal(kiln.relu(g).cpu().numpy(), np.maximum(t.numpy(), 0))
    assert g.cpu().stride() == kc.stride()
