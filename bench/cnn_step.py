"""CPU training step of a small residual network with BatchNorm, Kiln and PyTorch side by side in
one process, on the same thread count; reported as the ratio kiln/torch of milliseconds per step
(below 1: Kiln faster; issue 6's target: no slower).

The network (one definition builds both, from each library's nn): conv 3x3 3->16 + BatchNorm +
ReLU, then BasicBlocks 16->16, 16->32 (stride 2, 1x1 projection shortcut), 32->64 (stride 2),
global average pool, Linear 64->10 -- a CIFAR ResNet with one block per stage. Input 3x32x32,
batch 32. One step = forward, cross_entropy, zero_grad(set_to_none=True), backward, SGD (lr
0.01, momentum 0.9) step, loss read back (.item()).

Rounds alternate the libraries after a warm-up; each round times `steps` steps; medians.
Threads: --threads (default $OMP_NUM_THREADS, else the CPU count) for both: OMP_NUM_THREADS is
set before kiln loads its OpenMP runtime and torch.set_num_threads gets the same number. Kiln
sets OMP_WAIT_POLICY=PASSIVE unless it is set (see docs/ARCHITECTURE.md); in one process it
applies to both libraries.

    python3 bench/cnn_step.py [--steps 20] [--rounds 5] [--warmup 3] [--threads N] [--json FILE]
"""
import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python_bindings"))

BATCH, CLASSES = 32, 10


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="training steps per timed round")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per library")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--threads", type=int,
                   default=int(os.environ.get("OMP_NUM_THREADS", 0)) or os.cpu_count())
    p.add_argument("--json", metavar="FILE", help="append the JSON line to FILE")
    return p.parse_args()


def make_step(lib):
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = None
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))

    lib.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                          nn.ReLU(), Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, CLASSES))
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = lib.randn(BATCH, 3, 32, 32)
    y = lib.randint(0, CLASSES, (BATCH,))

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def main():
    args = parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before kiln loads libgomp
    import kiln
    import torch
    torch.set_num_threads(args.threads)
    steps = {"kiln": make_step(kiln), "torch": make_step(torch)}
    for fn in steps.values():
        for _ in range(args.warmup):
            fn()
    rounds = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                fn()
            rounds[name].append((time.perf_counter() - t0) * 1e3 / args.steps)
    k, t = statistics.median(rounds["kiln"]), statistics.median(rounds["torch"])
    print(f"small ResNet (BatchNorm) training step, 3x32x32, batch {BATCH}, SGD momentum, CPU, "
          f"{args.threads} threads, {args.rounds} rounds x {args.steps} steps (medians)")
    for name, ms in (("kiln", k), ("pytorch", t)):
        r = rounds["kiln" if name == "kiln" else "torch"]
        print(f"  {name:8s} {ms:8.2f} ms/step  {BATCH / ms * 1e3:7.0f} images/s   (rounds: "
              f"{', '.join(f'{v:.2f}' for v in r)})")
    ratio = k / t
    verdict = "meets target" if ratio <= 1 else "ABOVE target"
    print(f"  ratio kiln/pytorch {ratio:.2f} (below 1: Kiln faster; target <= 1: {verdict})")
    record = {"bench": "cnn_step", "device": "cpu", "threads": args.threads, "batch": BATCH,
              "kiln_ms": k, "torch_ms": t, "kiln_rounds": rounds["kiln"],
              "torch_rounds": rounds["torch"], "ratio_time_kiln_over_torch": ratio,
              "target": "ratio <= 1", "verdict": verdict}
    line = json.dumps(record, sort_keys=True)
    if args.json:
        with open(args.json, "a") as f:
            f.write(line + "\n")
    else:
        print(line)


if __name__ == "__main__":
    main()
