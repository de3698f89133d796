"""kiln.nn.parallel.DistributedDataParallel: torch.nn.parallel.DistributedDataParallel over
kiln.distributed, in Python (as torch's module is), with the same design as the C++ class
(include/kiln/distributed/ddp.h):

- construction checks that every rank has the same parameter shapes and dtypes (a ValueError
  naming the first difference) and broadcasts parameters and buffers from rank 0;
- gradients are grouped into buckets of about bucket_cap_mb in reverse registration order; a
  post-accumulate-grad hook on each parameter copies its gradient into its bucket, and a bucket
  whose gradients are all there is all-reduced asynchronously (in bucket order, so ranks agree
  on the sequence) while backward goes on; a final autograd callback waits for the buckets and
  writes sum / world_size into every .grad before backward() returns;
- no_sync() skips the all-reduce (gradients accumulate locally until the next synchronised
  backward); a parameter that got no gradient is an error naming it, unless
  find_unused_parameters, in which case its .grad (zeros when None) joins the all-reduce and a
  parameter no rank used keeps its .grad;
- broadcast_buffers: buffers follow rank 0 before each forward in training mode.

Rank-aware seeding: call kiln.manual_seed(seed + dist.get_rank()) so that dropout masks differ
between ranks; DDP keeps the parameters identical anyway (rank 0's are broadcast).
"""
import importlib
import time
import weakref
from contextlib import contextmanager

from ... import _C, _factories, is_grad_enabled, no_grad
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]


class _LazyDistributed:
    # kiln.distributed, imported when first used: `import kiln` must not depend on it.
    def __getattr__(self, name):
        return getattr(importlib.import_module("kiln.distributed"), name)


dist = _LazyDistributed()


def _find_tensors(obj):
    """Every tensor in a (nested) forward output, as torch's _find_tensors."""
    if isinstance(obj, _C.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _find_tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _find_tensors(o)]
    return []


def _broadcast(tensors, group):
    """Broadcasts rank 0's `tensors` in place, all started before any is waited for."""
    with no_grad():
        staged, works = [], []
        for t in tensors:
            buf = t if t.is_contiguous() else t.contiguous()
            works.append(dist.broadcast(buf, 0, group=group, async_op=True))
            if buf is not t:
                staged.append((t, buf))
        for w in works:
            w.wait()
        for t, buf in staged:
            t.copy_(buf)


def _verify_same_parameters(named, group):
    """torch's _verify_param_shape_across_processes: rank 0's description against every rank's,
    the same verdict on every rank."""
    desc = [float(len(named))]
    for _, p in named:
        desc += [float(_dtype_code(p.dtype)), float(p.dim())] + [float(s) for s in p.shape]
    # GPU memory for NCCL, host memory for MPI.
    device = "cuda" if dist.get_backend(group) == "nccl" else "cpu"
    mine = _factories.tensor(desc, dtype=_C.float64, device=device)
    n = dist.get_world_size(group)
    lengths = [_factories.zeros(1, dtype=_C.float64, device=device) for _ in range(n)]
    dist.all_gather(lengths, _factories.tensor([float(len(desc))], dtype=_C.float64,
                                               device=device), group=group)
    every = [_factories.zeros(int(length.item()), dtype=_C.float64, device=device)
             for length in lengths]
    dist.all_gather(every, mine, group=group)
    root = _parse(every[0].tolist())
    for r in range(1, n):
        other = _parse(every[r].tolist())
        if len(other) != len(root):
            raise ValueError(f"DistributedDataParallel: rank 0 has {len(root)} parameters but rank "
                             f"{r} has {len(other)}; every rank must wrap the same model")
        for i, (a, b) in enumerate(zip(root, other)):
            if a != b:
                raise ValueError(
                    f"DistributedDataParallel: parameter {i} ('{named[i][0]}' on rank "
                    f"{dist.get_rank(group)}) is {_dtype_name(a[0])} {list(a[1])} on rank 0 but "
                    f"{_dtype_name(b[0])} {list(b[1])} on rank {r}; every rank must wrap the same "
                    f"model")


# The dtypes by a number that fits the float64 description exchanged between ranks.
_DTYPES = (_C.float32, _C.float64, _C.float16, _C.bfloat16, _C.int64, _C.int32, _C.uint8, _C.bool)


def _dtype_code(dtype):
    return _DTYPES.index(dtype)


def _dtype_name(code):
    return str(_DTYPES[int(code)]).replace("kiln.", "")


def _parse(values):
    out, at = [], 1
    for _ in range(int(values[0])):
        code, ndim = values[at], int(values[at + 1])
        out.append((code, tuple(int(v) for v in values[at + 2:at + 2 + ndim])))
        at += 2 + ndim
    return out


class _Bucket:
    def __init__(self, indices, params):
        self.indices = indices
        self.offsets = []
        size = 0
        for i in indices:
            self.offsets.append(size)
            size += params[i].numel()
        first = params[indices[0]]
        self.flat = _factories.zeros(size, dtype=first.dtype, device=first.device)
        self.pending = 0
        self.work = None


def _bucket_assignment(params, cap_bytes):
    """Reverse registration order, one open bucket per (dtype, device), closed once it holds
    cap_bytes; buckets ordered by their first parameter (as the C++ compute_bucket_assignment)."""
    open_, closed = {}, []
    for pos, i in enumerate(reversed(range(len(params)))):
        p = params[i]
        key = (str(p.dtype), str(p.device))
        b = open_.setdefault(key, {"indices": [], "bytes": 0, "first": pos})
        if not b["indices"]:
            b["first"] = pos
        b["indices"].append(i)
        b["bytes"] += p.numel() * p.element_size()
        if b["bytes"] >= cap_bytes:
            closed.append((b["first"], b["indices"]))
            open_[key] = {"indices": [], "bytes": 0, "first": pos}
    closed += [(b["first"], b["indices"]) for b in open_.values() if b["indices"]]
    return [indices for _, indices in sorted(closed, key=lambda c: c[0])]


class _Reducer:
    """Buckets, hooks and the end-of-backward step (the C++ Reducer, in Python)."""

    def __init__(self, named_params, group, cap_bytes, find_unused):
        self.names = [n for n, _ in named_params]
        self.params = [p for _, p in named_params]
        self.group = group
        self.find_unused = find_unused
        self.assignment = _bucket_assignment(self.params, cap_bytes)
        self.buckets = [_Bucket(indices, self.params) for indices in self.assignment]
        self.location = {}
        for b, bucket in enumerate(self.buckets):
            for k, i in enumerate(bucket.indices):
                self.location[i] = (b, k)
        self.armed = False
        self.callback_queued = False
        self.ready = [False] * len(self.params)
        self.used = [False] * len(self.params)
        self.unused = []
        self.next_bucket = 0
        self.ready_count = 0
        self.started_before_last = 0
        self.last_reduction = {"buckets": 0, "started_before_last_gradient": 0,
                               "wait_seconds": 0.0}
        # The hooks hold the reducer weakly: parameters outlive a DDP wrapper that was dropped.
        me = weakref.ref(self)

        def make_hook(i):
            def hook(_param):
                reducer = me()
                if reducer is not None:
                    reducer._on_grad_ready(i)
            return hook

        self.handles = [p.register_post_accumulate_grad_hook(make_hook(i))
                        for i, p in enumerate(self.params)]

    def remove_hooks(self):
        for h in self.handles:
            h.remove()
        self.handles = []

    def prepare_for_backward(self, outputs):
        self._wait_all()  # a failed backward may have left all-reduces in flight
        self.ready = [False] * len(self.params)
        self.used = [False] * len(self.params)
        for b in self.buckets:
            b.pending = len(b.indices)
        self.next_bucket = 0
        self.ready_count = 0
        self.started_before_last = 0
        self.callback_queued = False
        if self.find_unused:
            reached = _C._reaches(outputs, self.params)
            self.unused = [i for i, r in enumerate(reached) if not r]
        else:
            self.unused = []
        self.armed = True

    def disarm(self):
        self.armed = False

    def _on_grad_ready(self, i):
        if not self.armed:
            return
        if self.ready[i]:
            raise RuntimeError(
                f"DistributedDataParallel: parameter '{self.names[i]}' received its gradient "
                f"twice in one iteration (a backward pass run inside another, as reentrant "
                f"checkpointing does, reached it again)")
        if not self.callback_queued:
            self.callback_queued = True
            _C._queue_callback(self._finalize)
            for j in self.unused:
                self._mark_ready(j)
        self.used[i] = True
        self._mark_ready(i)

    def _mark_ready(self, i):
        if self.ready[i]:
            return
        self.ready[i] = True
        self.ready_count += 1
        if self.ready_count == len(self.params):
            self.started_before_last = self.next_bucket
        b, k = self.location[i]
        bucket = self.buckets[b]
        p = self.params[i]
        slot = bucket.flat.narrow(0, bucket.offsets[k], p.numel())
        with no_grad():
            if p.grad is not None:
                slot.copy_(p.grad.reshape(-1))
            else:
                slot.zero_()
        bucket.pending -= 1
        if bucket.pending == 0:
            self._launch_ready_buckets()

    def _launch_ready_buckets(self):
        while self.next_bucket < len(self.buckets) and \
                self.buckets[self.next_bucket].pending == 0:
            bucket = self.buckets[self.next_bucket]
            self.next_bucket += 1
            bucket.work = dist.all_reduce(bucket.flat, group=self.group, async_op=True)

    def _wait_all(self):
        start = time.perf_counter()
        error = None
        for b in self.buckets:
            if b.work is None:
                continue
            try:
                b.work.wait()
            except Exception as e:  # keep waiting for the others; report the first
                error = error or e
            b.work = None
        if error is not None:
            raise error
        return time.perf_counter() - start

    def _finalize(self):
        self.armed = False
        missing = [i for i, r in enumerate(self.ready) if not r]
        if missing and not self.find_unused:
            self._wait_all()
            names = ", ".join(self.names[i] for i in missing)
            raise RuntimeError(
                f"DistributedDataParallel: on rank {dist.get_rank(self.group)}, {len(missing)} "
                f"parameter(s) received no gradient in this backward pass: {names}. Every "
                f"parameter must take part in computing the loss of every iteration, or the ranks "
                f"cannot reduce the same gradients. If some parameters are unused in some "
                f"iterations, pass find_unused_parameters=True to DistributedDataParallel; "
                f"otherwise make sure all forward outputs take part in the loss.")
        for i in missing:
            self._mark_ready(i)
        self.last_reduction = {"buckets": len(self.buckets),
                               "started_before_last_gradient": self.started_before_last,
                               "wait_seconds": self._wait_all()}
        used = None
        if self.find_unused:
            flags = _factories.tensor([1.0 if u else 0.0 for u in self.used],
                                      device=self.params[0].device)
            dist.all_reduce(flags, group=self.group)
            used = [v > 0 for v in flags.tolist()]
        world = dist.get_world_size(self.group)
        with no_grad():
            for bucket in self.buckets:
                bucket.flat.div_(world)
                for k, i in enumerate(bucket.indices):
                    if used is not None and not used[i]:
                        continue  # no rank used it: its .grad stays as it was
                    p = self.params[i]
                    mean = bucket.flat.narrow(0, bucket.offsets[k], p.numel()).view(p.shape)
                    if p.grad is not None:
                        p.grad.copy_(mean)
                    else:
                        p.grad = mean.clone()


class DistributedDataParallel(Module):
    """torch.nn.parallel.DistributedDataParallel. device_ids, output_device and dim are
    accepted for compatibility (the module already lives on this rank's device);
    check_reduction, gradient_as_bucket_view and static_graph are accepted and ignored."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=True, process_group=None, bucket_cap_mb=25,
                 find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if not dist.is_initialized() and process_group is None:
            raise RuntimeError("DistributedDataParallel: the default process group has not been "
                               "initialized; call kiln.distributed.init_process_group first")
        if bucket_cap_mb is None or bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                             f"{bucket_cap_mb}")
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.process_group = process_group
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.bucket_bytes_cap = max(1, int(bucket_cap_mb * 1024 * 1024))
        named = list(module.named_parameters())
        _verify_same_parameters(named, process_group)
        _broadcast([p for _, p in named] + list(module.buffers()), process_group)
        trained = [(n, p) for n, p in named if p.requires_grad]
        self._reducer = _Reducer(trained, process_group, self.bucket_bytes_cap,
                                 find_unused_parameters)

    def forward(self, *inputs, **kwargs):
        if self.broadcast_buffers and self.training and is_grad_enabled() and \
                dist.get_world_size(self.process_group) > 1:
            buffers = list(self.module.buffers())
            if buffers:
                _broadcast(buffers, self.process_group)
        output = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync:
            self._reducer.prepare_for_backward(_find_tensors(output))
        else:
            self._reducer.disarm()
        return output

    @contextmanager
    def no_sync(self):
        """Gradients accumulate locally inside; the next synchronised backward reduces them."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def _bucket_assignment(self):
        """Parameter indices (among those requiring grad) of each bucket, in all-reduce order."""
        return [list(b) for b in self._reducer.assignment]

    def _last_reduction(self):
        """How the last synchronised backward reduced its gradients: buckets, how many of them
        started their all-reduce before the pass's last gradient was ready (overlapping the rest
        of backward), and the seconds spent waiting for them after backward (not hidden); the
        C++ DistributedDataParallel::last_reduction()."""
        return dict(self._reducer.last_reduction)

    def __del__(self):
        reducer = self.__dict__.get("_reducer")
        if reducer is not None:
            reducer.remove_hooks()
