"""kiln.cuda: the API on a machine without a GPU (what it answers, how it refuses), and on one
with a GPU the memory statistics, out-of-memory recovery, events, pinned memory and
non_blocking copies, compared with what torch.cuda's API promises."""
import warnings

import numpy as np
import pytest

import kiln

GPU = kiln.cuda.is_available()
needs_gpu = pytest.mark.skipif(not GPU, reason="no CUDA device: kiln.cuda GPU test skipped")
without_gpu = pytest.mark.skipif(GPU, reason="a CUDA device is present: GPU tests cover this")


def test_availability_and_count_agree():
    n = kiln.cuda.device_count()
    assert isinstance(n, int) and n >= 0
    assert kiln.cuda.is_available() == (n > 0)


def test_out_of_memory_error_is_a_runtime_error():
    assert issubclass(kiln.cuda.OutOfMemoryError, RuntimeError)
    assert kiln.cuda.OutOfMemoryError.__name__ == "OutOfMemoryError"


def test_manual_seed_is_kilns_one_generator():
    kiln.cuda.manual_seed(123)
    a = kiln.rand(8)
    kiln.manual_seed(123)
    assert kiln.equal(a, kiln.rand(8))
    kiln.cuda.manual_seed_all(7)
    b = kiln.rand(8)
    kiln.manual_seed(7)
    assert kiln.equal(b, kiln.rand(8))


def test_tf32_switch_is_off_and_untouched_by_the_cuda_api():
    matmul = kiln.backends.cuda.matmul
    assert matmul.allow_tf32 is False
    for call in (kiln.cuda.is_available, kiln.cuda.device_count, kiln.cuda.empty_cache,
                 kiln.cuda.Event):
        call()
    assert matmul.allow_tf32 is False


@without_gpu
def test_without_a_gpu_calls_that_need_one_raise_clearly():
    assert kiln.cuda.device_count() == 0
    for name, call in [
        ("memory_stats", kiln.cuda.memory_stats),
        ("memory_stats", kiln.cuda.memory_allocated),
        ("memory_stats", kiln.cuda.max_memory_reserved),
        ("reset_peak_memory_stats", kiln.cuda.reset_peak_memory_stats),
        ("current_device", kiln.cuda.current_device),
        ("synchronize", kiln.cuda.synchronize),
        ("get_device_name", lambda: kiln.cuda.get_device_name(0)),
        ("pin_memory", lambda: kiln.ones(3).pin_memory()),
        ("pin_memory", lambda: kiln.ones(3, pin_memory=True)),
        ("pin_memory", lambda: kiln.tensor([1.0, 2.0], pin_memory=True)),
    ]:
        with pytest.raises(RuntimeError, match=name) as info:
            call()
        assert "CUDA" in str(info.value)
        assert not isinstance(info.value, kiln.cuda.OutOfMemoryError)
    kiln.cuda.empty_cache()  # nothing cached: a no-op, as torch's
    assert not kiln.ones(3).is_pinned()
    with pytest.raises(RuntimeError, match="cuda"):
        kiln.ones(3).to("cuda", non_blocking=True)
    with pytest.raises(RuntimeError, match="cuda"):
        kiln.ones(3).cuda(non_blocking=True)


@without_gpu
def test_event_without_a_gpu():
    e = kiln.cuda.Event(enable_timing=True)
    assert e.enable_timing
    assert e.query()  # never recorded: reached, as torch's
    e.synchronize()
    e.wait()
    assert "uninitialized" in repr(e)
    with pytest.raises(RuntimeError, match="Event.record"):
        e.record()


def test_event_arguments():
    with pytest.raises(NotImplementedError, match="interprocess"):
        kiln.cuda.Event(interprocess=True)
    e = kiln.cuda.Event()
    assert not e.enable_timing
    with pytest.raises(NotImplementedError, match="stream"):
        e.record(stream="side")
    with pytest.raises(TypeError, match="kiln.cuda.Event"):
        e.elapsed_time(3)


def test_device_arguments_must_name_a_cuda_device():
    with pytest.raises(ValueError, match="expected a CUDA device"):
        kiln.cuda.memory_stats("cpu")
    with pytest.raises(TypeError, match="device"):
        kiln.cuda.synchronize(1.5)


def test_non_blocking_on_the_cpu_is_a_plain_conversion():
    x = kiln.arange(4.0)
    assert x.to("cpu", non_blocking=True) is x
    y = x.to("cpu", kiln.float64, non_blocking=True)
    assert y.dtype == kiln.float64 and y.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert x.to(kiln.float16, non_blocking=True).dtype == kiln.float16
    assert x.to(y, non_blocking=True).dtype == kiln.float64


@without_gpu
def test_dataloader_pin_memory_without_a_gpu_warns_and_keeps_batches():
    data = [kiln.full((2,), float(i)) for i in range(4)]
    loader = kiln.utils.data.DataLoader(data, batch_size=2, pin_memory=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(loader)
    assert any("pin_memory" in str(w.message) for w in caught)
    assert [b.tolist() for b in batches] == [[[0, 0], [1, 1]], [[2, 2], [3, 3]]]
    assert not any(b.is_pinned() for b in batches)


# ---------------- with a GPU ----------------

@needs_gpu
def test_device_queries():
    d = kiln.cuda.current_device()
    assert 0 <= d < kiln.cuda.device_count()
    assert kiln.cuda.get_device_name() == kiln.cuda.get_device_name(d) != ""
    kiln.cuda.set_device(d)
    kiln.cuda.set_device(f"cuda:{d}")
    kiln.cuda.set_device(kiln.device("cuda", d))
    assert kiln.cuda.current_device() == d
    kiln.cuda.synchronize()
    kiln.cuda.synchronize(d)


@needs_gpu
def test_memory_stats_follow_allocations():
    kiln.cuda.synchronize()
    before = kiln.cuda.memory_stats()
    for key in ("allocated_bytes.all.current", "allocated_bytes.all.peak",
                "reserved_bytes.all.current", "reserved_bytes.all.peak", "allocation.all.current",
                "allocation.all.allocated", "allocation.all.freed", "num_ooms",
                "num_alloc_retries"):
        assert isinstance(before[key], int), key
    assert kiln.cuda.memory_allocated() == before["allocated_bytes.all.current"]
    x = kiln.empty(1000, device="cuda")  # 4000 bytes
    assert kiln.cuda.memory_allocated() == before["allocated_bytes.all.current"] + 4000
    assert kiln.cuda.max_memory_allocated() >= kiln.cuda.memory_allocated()
    assert kiln.cuda.memory_reserved() >= kiln.cuda.memory_allocated()
    assert kiln.cuda.max_memory_reserved() >= kiln.cuda.memory_reserved()
    del x
    after = kiln.cuda.memory_stats()
    assert after["allocated_bytes.all.current"] == before["allocated_bytes.all.current"]
    assert after["allocation.all.freed"] == before["allocation.all.freed"] + 1
    kiln.cuda.reset_peak_memory_stats()
    assert kiln.cuda.max_memory_allocated() == kiln.cuda.memory_allocated()


@needs_gpu
def test_out_of_memory_raises_and_the_process_stays_usable():
    before = kiln.cuda.memory_stats()
    with pytest.raises(kiln.cuda.OutOfMemoryError, match="out of memory") as info:
        kiln.empty(2 ** 48, device="cuda")  # a petabyte of float32
    assert "1125899906842624 bytes" in str(info.value)
    assert "reserved" in str(info.value)
    after = kiln.cuda.memory_stats()
    assert after["num_ooms"] == before["num_ooms"] + 1
    assert after["allocated_bytes.all.current"] == before["allocated_bytes.all.current"]
    y = kiln.arange(1000.0, device="cuda") * 2
    assert y.sum().item() == 999000.0


@needs_gpu
def test_pinned_memory_and_non_blocking_copies():
    host = kiln.arange(4096.0).reshape(64, 64).t()
    assert not host.is_pinned()
    pinned = host.pin_memory()
    assert pinned.is_pinned() and pinned.device.type == "cpu"
    assert pinned.pin_memory() is pinned
    assert kiln.zeros(2, 3, pin_memory=True).is_pinned()
    assert kiln.tensor([1.0], pin_memory=True, requires_grad=True).is_pinned()
    np.testing.assert_array_equal(pinned.numpy(), host.numpy())
    gpu = pinned.to("cuda", non_blocking=True)
    assert gpu.is_cuda
    back = (gpu * 2).cpu()
    np.testing.assert_array_equal(back.numpy(), host.numpy() * 2)
    gpu2 = pinned.cuda(non_blocking=True)
    kiln.cuda.synchronize()
    np.testing.assert_array_equal(gpu2.cpu().numpy(), host.numpy())


@needs_gpu
def test_dataloader_pins_batches():
    data = [(kiln.full((2,), float(i)), i) for i in range(4)]
    loader = kiln.utils.data.DataLoader(data, batch_size=2, pin_memory=True)
    batches = list(loader)
    assert all(x.is_pinned() and y.is_pinned() for x, y in batches)
    assert batches[1][0].tolist() == [[2, 2], [3, 3]]
    assert batches[1][1].tolist() == [2, 3]


@needs_gpu
def test_events_time_work():
    start, end = kiln.cuda.Event(enable_timing=True), kiln.cuda.Event(enable_timing=True)
    start.record()
    a = kiln.randn(1024, 1024, device="cuda")
    b = a @ a
    end.record()
    end.synchronize()
    assert end.query()
    assert 0.0 <= start.elapsed_time(end) < 60000.0
    end.wait()
    assert "cuda:" in repr(end)
    plain = kiln.cuda.Event()
    plain.record()
    plain.synchronize()
    with pytest.raises(RuntimeError, match="enable_timing"):
        plain.elapsed_time(end)
    assert np.isfinite(b.sum().item())
