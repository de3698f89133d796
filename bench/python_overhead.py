"""Per-call overhead of the Python bindings, Kiln and PyTorch side by side in one run.

Times, in a Python loop, `a + b` on 1-element float32 tensors and a Linear(16, 16) forward on a
1x16 input (no grad), for kiln and for torch (Debian's python3-torch), alternating rounds and
reporting medians in microseconds per call and the ratio kiln/torch (below 1: Kiln's overhead is
lower). Run with Debian's interpreter after scripts/build.sh:

    /usr/bin/python3 bench/python_overhead.py [calls] [rounds]
"""
import os
import statistics
import sys
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python_bindings"))

import torch  # noqa: E402

import kiln  # noqa: E402

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
torch.set_num_threads(1)


def per_call_us(stmt, env):
    return timeit.timeit(stmt, globals=env, number=CALLS) / CALLS * 1e6


def case(lib):
    a, b = lib.ones(1), lib.ones(1)
    linear = lib.nn.Linear(16, 16)
    x = lib.ones(1, 16)
    return {"a": a, "b": b, "linear": linear, "x": x, "lib": lib}


def main():
    envs = {"kiln": case(kiln), "torch": case(torch)}
    benches = {"a + b (1 element)": "a + b",
               "Linear(16, 16) forward, 1x16, no_grad": "linear(x)"}
    print(f"Python per-call overhead: {CALLS} calls per round, {ROUNDS} rounds, medians")
    for title, stmt in benches.items():
        times = {"kiln": [], "torch": []}
        for _ in range(ROUNDS):
            for lib in ("kiln", "torch"):
                env = envs[lib]
                with env["lib"].no_grad():
                    times[lib].append(per_call_us(stmt, env))
        k, t = statistics.median(times["kiln"]), statistics.median(times["torch"])
        print(f"  {title}")
        print(f"    kiln   {k:7.3f} us  (rounds: {', '.join(f'{v:.3f}' for v in times['kiln'])})")
        print(f"    torch  {t:7.3f} us  (rounds: {', '.join(f'{v:.3f}' for v in times['torch'])})")
        print(f"    ratio kiln/torch {k / t:.2f} (below 1: Kiln's overhead is lower)")


if __name__ == "__main__":
    main()
