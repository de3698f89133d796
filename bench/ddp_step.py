"""DDP on the CPU: a data-parallel training step on N ranks against one rank doing one rank's
share of the work, and how much of the gradient all-reduce backward hides.

    mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 \\
        python3 bench/ddp_step.py [--batch 64] [--bucket-cap-mb 4] [--steps 10] [--rounds 5]
        [--json FILE]

Model: MLP 784-1024-1024-1024-1024-10 (4 M float32 parameters, 16 MB of gradients: several
buckets at the default 4 MiB, so that the first can be reduced while backward goes on),
cross-entropy, SGD with momentum, batch --batch per rank (weak scaling: N ranks process N times
the samples).

- **1 rank, its share**: rank 0 alone (the others wait at a barrier) runs the plain step, no
  DDP, on one rank's batch. **N ranks**: every rank runs the DDP step (kiln.nn.parallel.
  DistributedDataParallel) on its batch. Scaling efficiency = t(1 rank) / t(N ranks): 1.0 means
  the N-fold work took no longer than one share; the gap is communication that was not hidden,
  the DDP hooks' bookkeeping, and the ranks competing for cores and memory bandwidth.
- **All-reduce time**: the same buckets all-reduced back to back, blocking, outside backward
  (what communication costs per step). **Exposed**: the time the DDP step spent after backward
  had finished waiting for its buckets (kiln's reducer measures it), on the rank that waited
  least in that step (the others also waited for it to catch up). Hidden share =
  1 - exposed / all-reduce time: the part of the communication that overlapped backward.

Medians over --rounds rounds of --steps steps (each after two warm-up steps), the three
measurements alternating round by round; rank 0 prints a table and one JSON line.
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
from kiln import nn  # noqa: E402
from kiln.nn.parallel import DistributedDataParallel as DDP  # noqa: E402


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def make_model():
    kiln.manual_seed(0)
    layers = [nn.Linear(784, 1024), nn.ReLU()]
    for _ in range(3):
        layers += [nn.Linear(1024, 1024), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(1024, 10))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=64, help="samples per rank and step")
    p.add_argument("--bucket-cap-mb", type=float, default=4)
    p.add_argument("--steps", type=int, default=10, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", help="append the JSON line to this file")
    args = p.parse_args()

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    kiln.manual_seed(100 + rank)
    x = kiln.randn(args.batch, 784)
    y = kiln.randint(0, 10, (args.batch,))
    plain = make_model()
    plain_opt = kiln.optim.SGD(plain.parameters(), lr=0.01, momentum=0.9)
    ddp = DDP(make_model(), bucket_cap_mb=args.bucket_cap_mb)
    ddp_opt = kiln.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    buckets = ddp._reducer.buckets

    def step(model, opt):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()

    # Rounds alternate the three measurements, so that a busy machine skews them alike.
    single, multi, exposed, comm, early = [], [], [], [], []
    for r in range(args.rounds):
        if rank == 0:  # one rank, its share of the work, the others idle at the barrier
            for i in range(2 + args.steps):
                t0 = time.perf_counter()
                step(plain, plain_opt)
                if i >= 2:
                    single.append(time.perf_counter() - t0)
        dist.barrier()
        for i in range(2 + args.steps):
            dist.barrier()  # every step starts together: a step's time is the job's
            t0 = time.perf_counter()
            step(ddp, ddp_opt)
            if i >= 2:
                multi.append(time.perf_counter() - t0)
                stats = ddp._last_reduction()
                exposed.append(stats["wait_seconds"])
                early.append(stats["started_before_last_gradient"])
        for i in range(2 + args.steps):  # the same buckets, back to back, blocking
            dist.barrier()
            t0 = time.perf_counter()
            for b in buckets:
                dist.all_reduce(b.flat)
            if i >= 2:
                comm.append(time.perf_counter() - t0)
    # A fast rank also waits for a slow one to reach the all-reduce; the rank that finished
    # backward last waited only for the communication itself: per step, the smallest wait.
    waits = kiln.tensor(exposed, dtype=kiln.float64)
    dist.all_reduce(waits, op=dist.ReduceOp.MIN)
    multi, allreduce, wait = median(multi), median(comm), median(waits.tolist())

    # The job's figures are rank 0's (every step began at a barrier).
    if rank != 0:
        dist.destroy_process_group()
        return
    single = median(single)
    params = sum(p.numel() for p in ddp.parameters())
    hidden = max(0.0, 1.0 - wait / allreduce) if allreduce > 0 else float("nan")
    rows = [
        ("1 rank, one share (no DDP)", f"{single * 1e3:8.2f} ms", f"{args.batch / single:9.0f}"),
        (f"{world} ranks, DDP", f"{multi * 1e3:8.2f} ms", f"{world * args.batch / multi:9.0f}"),
    ]
    print(f"DDP step, MLP 784-1024x4-10 ({params / 1e6:.2f} M parameters), batch "
          f"{args.batch} per rank, {len(buckets)} buckets of <= {args.bucket_cap_mb} MiB, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'':32} {'per step':>11} {'samples/s':>10}")
    for name, t, rate in rows:
        print(f"{name:32} {t:>11} {rate:>10}")
    print(f"scaling efficiency t(1)/t({world}) = {single / multi:.2f}")
    print(f"all-reduce of the buckets, blocking: {allreduce * 1e3:.2f} ms per step; waited for "
          f"after backward: {wait * 1e3:.2f} ms; hidden behind backward: {100 * hidden:.0f} %; "
          f"buckets started before the last gradient: {median(early)} of {len(buckets)}")
    record = {"bench": "ddp_step", "ranks": world, "batch_per_rank": args.batch,
              "bucket_cap_mb": args.bucket_cap_mb, "buckets": len(buckets),
              "ms_single": single * 1e3, "ms_ddp": multi * 1e3,
              "scaling_efficiency": single / multi, "ms_allreduce": allreduce * 1e3,
              "ms_exposed_wait": wait * 1e3, "hidden_share": hidden,
              "buckets_started_before_last_gradient": median(early)}
    line = json.dumps(record)
    if args.json:
        with open(args.json, "a") as f:
            f.write(line + "\n")
    else:
        print(line)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
