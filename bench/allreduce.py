"""All-reduce bandwidth of kiln.distributed, as nccl-tests defines it, run under mpirun:

    mpirun -np 2 python3 bench/allreduce.py                       # CPU, the mpi group
    mpirun -np N python3 bench/allreduce.py --backend nccl        # one GPU per rank

For each message size (powers of two from --min-bytes to --max-bytes; default 1 MiB .. 1 GiB on
GPUs, 1 MiB .. 64 MiB on CPUs) every rank times `--iters` back-to-back all-reduces (SUM, in
place) after `--warmup` untimed ones; the time per all-reduce is the slowest rank's. Then, as
nccl-tests (doc/PERFORMANCE.md):
    algbw = bytes / time
    busbw = algbw * 2 (n - 1) / n     (n ranks; 0 for one rank: nothing crosses a link)
busbw is comparable across rank counts and with the hardware's link bandwidth. Rank 0 prints a
table and one JSON line per size (to stdout, or appended to --json FILE).
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python_bindings"))

import kiln  # noqa: E402
import kiln.distributed as dist  # noqa: E402


def parse_size(text):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().rstrip("ib")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["mpi", "nccl"],
                   help="default: nccl when a GPU is visible, else mpi")
    p.add_argument("--min-bytes", type=parse_size, default=parse_size("1M"))
    p.add_argument("--max-bytes", type=parse_size)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()

    backend = args.backend or ("nccl" if kiln.cuda.is_available() else "mpi")
    if backend == "nccl" and not dist.is_nccl_available():
        print("skipped: this build of Kiln has no NCCL group (no CUDA backend)")
        return
    max_bytes = args.max_bytes or parse_size("1G" if backend == "nccl" else "64M")
    dist.init_process_group(backend)
    rank, n = dist.get_rank(), dist.get_world_size()
    device = "cuda" if backend == "nccl" else "cpu"
    dtype = getattr(kiln, args.dtype)
    elem = kiln.empty(1, dtype=dtype).element_size()

    def sync():
        if device == "cuda":
            kiln.cuda.synchronize()

    rows = []
    size = args.min_bytes
    while size <= max_bytes:
        count = max(1, size // elem)
        t = kiln.ones(count, dtype=dtype, device=device)
        for _ in range(args.warmup):
            dist.all_reduce(t)
        sync()
        dist.barrier()
        start = time.perf_counter()
        # Back to back, as nccl-tests: each wait() only orders the compute stream on GPUs, so the
        # collectives queue up; one synchronisation at the end.
        works = [dist.all_reduce(t, async_op=True) for _ in range(args.iters)]
        for w in works:
            w.wait()
        sync()
        elapsed = kiln.tensor([(time.perf_counter() - start) / args.iters], dtype=kiln.float64)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)  # the slowest rank's time (CPU, mpi)
        seconds = elapsed.item()
        bytes_ = count * elem
        algbw = bytes_ / seconds / 1e9
        busbw = algbw * 2 * (n - 1) / n
        rows.append({"bench": "allreduce", "backend": backend, "ranks": n, "dtype": args.dtype,
                     "bytes": bytes_, "time_us": seconds * 1e6, "algbw_GBps": algbw,
                     "busbw_GBps": busbw})
        del t
        size *= 2

    if rank == 0:
        print(f"all_reduce (sum, in place), {backend}, {n} rank(s), {args.dtype}, "
              f"{args.iters} iterations after {args.warmup} warm-up")
        print(f"{'bytes':>12} {'time (us)':>12} {'algbw (GB/s)':>13} {'busbw (GB/s)':>13}")
        for r in rows:
            print(f"{r['bytes']:>12} {r['time_us']:>12.1f} {r['algbw_GBps']:>13.3f} "
                  f"{r['busbw_GBps']:>13.3f}")
        lines = [json.dumps(r) for r in rows]
        if args.json:
            with open(args.json, "a") as f:
                f.write("\n".join(lines) + "\n")
        else:
            print("\n".join(lines))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
