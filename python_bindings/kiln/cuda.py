"""kiln.cuda: torch.cuda's runtime API over Kiln's CUDA runtime (kiln/cuda.h in C++).

Devices, synchronisation, events, and the statistics of the stream-ordered memory pool. Without
a GPU (or in a build without the CUDA backend) is_available() is False and device_count() is 0;
the functions that need a device raise a RuntimeError that says why.
"""
from . import _C

_cuda = _C._cuda

# An allocation that failed even after the pool returned its cache (a RuntimeError, as
# torch.cuda.OutOfMemoryError); the message names the size and the pool's statistics.
OutOfMemoryError = _cuda.OutOfMemoryError

__all__ = [
    "is_available", "device_count", "current_device", "set_device", "get_device_name",
    "synchronize", "memory_stats", "memory_allocated", "max_memory_allocated", "memory_reserved",
    "max_memory_reserved", "reset_peak_memory_stats", "empty_cache", "Event", "manual_seed",
    "manual_seed_all", "OutOfMemoryError",
]


def is_available():
    return _cuda.device_count() > 0


def device_count():
    return _cuda.device_count()


def current_device():
    return _cuda.current_device()


def set_device(device):
    _cuda.set_device(device)


def get_device_name(device=None):
    return _cuda.get_device_name(device)


def synchronize(device=None):
    """Waits for all work queued on `device` (default: the current device)."""
    _cuda.synchronize(device)


def memory_stats(device=None):
    """A dict with torch.cuda.memory_stats()'s keys for the figures Kiln keeps:
    allocated_bytes.all.{current,peak}, reserved_bytes.all.{current,peak},
    allocation.all.{current,peak,allocated,freed}, num_alloc_retries, num_ooms."""
    return _cuda.memory_stats(device)


def memory_allocated(device=None):
    return memory_stats(device)["allocated_bytes.all.current"]


def max_memory_allocated(device=None):
    return memory_stats(device)["allocated_bytes.all.peak"]


def memory_reserved(device=None):
    return memory_stats(device)["reserved_bytes.all.current"]


def max_memory_reserved(device=None):
    return memory_stats(device)["reserved_bytes.all.peak"]


def reset_peak_memory_stats(device=None):
    _cuda.reset_peak_memory_stats(device)


def empty_cache():
    """Returns the pool's cached, unused memory to the driver (a no-op without a GPU)."""
    _cuda.empty_cache()


def manual_seed(seed):
    """Kiln draws on every device from one Philox generator: this is kiln.manual_seed."""
    _C.manual_seed(seed)


def manual_seed_all(seed):
    _C.manual_seed(seed)


class Event:
    """torch.cuda.Event: a point in the work queued on the current device's compute stream.

    record() marks it, wait() makes later work wait for it, synchronize() blocks until it is
    reached, query() says whether it is, elapsed_time(end) gives the milliseconds between two
    events created with enable_timing=True. Kiln has no stream objects: `stream` must be None.
    """

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        if interprocess:
            raise NotImplementedError("kiln.cuda.Event: interprocess events are not supported")
        # blocking only changes how the host waits (sleeping rather than spinning).
        self._event = _cuda.Event(enable_timing)

    @property
    def enable_timing(self):
        return self._event.enable_timing

    def record(self, stream=None):
        self._event.record(stream)

    def wait(self, stream=None):
        self._event.wait(stream)

    def query(self):
        return self._event.query()

    def synchronize(self):
        self._event.synchronize()

    def elapsed_time(self, end_event):
        if not isinstance(end_event, Event):
            raise TypeError(f"elapsed_time: expected a kiln.cuda.Event, got "
                            f"{type(end_event).__name__}")
        return self._event.elapsed_time(end_event._event)

    def __repr__(self):
        if not self._event.recorded:
            return "<kiln.cuda.Event uninitialized>"
        return f"<kiln.cuda.Event on cuda:{self._event.device_index}>"
