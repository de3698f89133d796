"""kiln.distributed: torch.distributed's process-group API over Kiln's MPI and NCCL groups.

Start the processes with mpirun and call init_process_group in each::

    mpirun -np 2 python3 train.py            # (as root in CI: --allow-run-as-root --oversubscribe)

    import kiln.distributed as dist
    dist.init_process_group("mpi")           # CPU tensors; "nccl" for CUDA tensors (a GPU per rank)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)

Rank and world size come from mpirun (several machines: its hostfile); there is no store or
init_method. A collective that does not complete within `timeout` ends the whole job with a
message naming the rank, the collective, its sequence number and shape (env
KILN_DIST_TIMEOUT_SEC overrides it); `checked=True` (or KILN_DIST_CHECKED=1) makes the ranks
compare every collective's dtype and shapes first and raise the same ValueError on every rank
when they differ. An exception that escapes the script on one rank ends the whole job at once
(MPI_Abort) instead of leaving the other ranks waiting for it.
"""
import datetime
import sys

from .. import _C

_d = _C._distributed

ReduceOp = _d.ReduceOp
Work = _d.Work
ProcessGroup = _d.ProcessGroup

__all__ = [
    "init_process_group", "destroy_process_group", "is_initialized", "is_available",
    "is_mpi_available", "is_nccl_available", "get_rank", "get_world_size", "get_backend",
    "ReduceOp", "Work", "ProcessGroup", "all_reduce", "all_gather", "broadcast",
    "reduce_scatter", "barrier", "group", "default_pg_timeout",
]

# Kiln's default (torch's is 30 minutes): long enough for a slow rank, short enough that a hung
# job ends the same working session.
default_pg_timeout = datetime.timedelta(minutes=5)


class group:
    """torch.distributed.group: WORLD is the default group (passing None means the same)."""
    WORLD = None


def is_available():
    return _d.is_available("mpi")


def is_mpi_available():
    return _d.is_available("mpi")


def is_nccl_available():
    return _d.is_available("nccl")


def _abort_on_uncaught_exception(hook):
    def excepthook(exc_type, exc, tb):
        hook(exc_type, exc, tb)
        if _d.is_initialized():
            _d.abort_job(f"kiln.distributed: rank {_d.get_rank()}: uncaught {exc_type.__name__} "
                         f"(traceback above); aborting the job")
    excepthook._kiln_distributed = True
    return excepthook


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, *, checked=None):
    """Creates the default group: "mpi" (CPU tensors) or "nccl" (CUDA tensors, one GPU per local
    rank). Every process started by mpirun must call it. `world_size` and `rank`, when given, must
    agree with mpirun's. `timeout` is a datetime.timedelta (default 5 minutes)."""
    backend = "mpi" if backend is None else str(backend).lower()
    if init_method is not None and init_method not in ("env://", "mpi://"):
        raise ValueError(f"init_process_group: init_method={init_method!r} is not supported; "
                         f"Kiln's processes are started and connected by mpirun")
    if store is not None:
        raise ValueError("init_process_group: store is not supported; Kiln's processes are "
                         "connected by mpirun")
    if timeout is None:
        seconds = 0.0  # the C++ default, or KILN_DIST_TIMEOUT_SEC
    elif isinstance(timeout, datetime.timedelta):
        seconds = timeout.total_seconds()
        if seconds <= 0:
            raise ValueError(f"init_process_group: timeout must be positive, got {timeout}")
    else:
        raise TypeError(f"init_process_group: timeout must be a datetime.timedelta, got "
                        f"{type(timeout).__name__}")
    pg = _d.init_process_group(backend, seconds, checked)
    if (world_size != -1 and world_size != pg.size()) or (rank != -1 and rank != pg.rank()):
        _d.destroy_process_group()
        raise ValueError(f"init_process_group: world_size={world_size}, rank={rank} were given "
                         f"but mpirun started this process as rank {pg.rank()} of {pg.size()}")
    if not getattr(sys.excepthook, "_kiln_distributed", False):
        sys.excepthook = _abort_on_uncaught_exception(sys.excepthook)


def destroy_process_group(group=None):
    """Finishes the default group's outstanding collectives and releases it."""
    _check_group(group)
    _d.destroy_process_group()


def is_initialized():
    return _d.is_initialized()


def get_rank(group=None):
    _check_group(group)
    return _d.get_rank()


def get_world_size(group=None):
    _check_group(group)
    return _d.get_world_size()


def get_backend(group=None):
    _check_group(group)
    return _d.default_group().backend()


def _check_group(g):
    if g is not None and not isinstance(g, ProcessGroup):
        raise TypeError(f"expected a kiln.distributed.ProcessGroup or None as group, got "
                        f"{type(g).__name__}")


def _finish(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduces `tensor` over every rank, in place. Returns a Work when async_op, else None."""
    _check_group(group)
    return _finish(_d.all_reduce(tensor, op, group), async_op)


def broadcast(tensor, src, group=None, async_op=False):
    """Copies rank `src`'s tensor into `tensor` on every rank."""
    _check_group(group)
    return _finish(_d.broadcast(tensor, src, group), async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] receives rank r's `tensor`; shapes may differ between ranks as long as
    tensor_list[r] has rank r's shape."""
    _check_group(group)
    return _finish(_d.all_gather(list(tensor_list), tensor, group), async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """output = the reduction over ranks of their input_list[rank]."""
    _check_group(group)
    return _finish(_d.reduce_scatter(output, list(input_list), op, group), async_op)


def barrier(group=None, async_op=False, device_ids=None):
    """Blocks until every rank has reached the barrier."""
    _check_group(group)
    return _finish(_d.barrier(group), async_op)


from . import nn  # noqa: E402,F401
