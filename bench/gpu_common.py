"""Shared parts of the GPU benchmarks (bench/gpu_*.py): finding kiln and torch with CUDA, timing
queued GPU work, medians over rounds, the printed table and the JSON lines.

Timing: CUDA events where the library has them (kiln.cuda.Event / torch.cuda.Event, torch's
API), else synchronize + time.perf_counter around a batch of calls (kiln.cuda.synchronize, or,
where even that is missing, reading one element of the last result back to the host, which waits
for the compute stream). A batch of `iters` calls is timed as a whole and divided, so the
per-call cost of the synchronisation vanishes; `warmup` calls first (allocator pools, cuBLASLt
heuristics, lazy module loading); then `rounds` batches, kiln and torch alternating, and the
median per library.
"""
import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python_bindings"))


def parse_args(description, rounds=7, iters=20, warmup=5, extra=None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--rounds", type=int, default=rounds, help="timed batches per library")
    p.add_argument("--iters", type=int, default=iters, help="calls per timed batch")
    p.add_argument("--warmup", type=int, default=warmup, help="untimed calls first")
    p.add_argument("--device", default="cuda",
                   help="cuda (default); cpu only smoke-tests the script itself")
    p.add_argument("--json", metavar="FILE",
                   help="append one JSON line per case to FILE (default: print them)")
    if extra:
        extra(p)
    return p.parse_args()


def load_libraries(device="cuda"):
    """{"kiln": module, "torch": module} for the libraries that have a usable CUDA device (any
    that imports, for device "cpu"), and the reasons for those left out."""
    libs, missing = {}, []
    cpu = device == "cpu"
    try:
        import kiln
        if cpu or kiln.cuda.is_available():
            libs["kiln"] = kiln
        else:
            missing.append("kiln has no CUDA device (kiln.cuda.is_available() is False)")
    except Exception as e:  # a missing build or extension: say so, do not crash
        missing.append(f"kiln could not be imported ({type(e).__name__}: {e})")
    try:
        import torch
        if cpu or torch.cuda.is_available():
            libs["torch"] = torch
        else:
            missing.append("torch has no CUDA (a CPU-only build, or no device)")
    except Exception as e:
        missing.append(f"torch could not be imported ({type(e).__name__}: {e})")
    return libs, missing


def require_kiln(title, device="cuda"):
    """The libraries to run, or None after printing why nothing runs (kiln without CUDA).
    Without torch's CUDA, kiln runs alone: its figures (and the ones relative to its own copy)
    are still worth having; the ratios to torch are left out."""
    libs, missing = load_libraries(device)
    if "kiln" not in libs:
        print(f"skipped: {title}: " + "; ".join(missing))
        return None
    for m in missing:
        print(f"skipped: torch side of {title}: {m}")
    return libs


def device_name(libs, device="cuda"):
    if device == "cpu":
        return "cpu (smoke test of the script, not a GPU figure)"
    if "torch" in libs:
        return libs["torch"].cuda.get_device_name(0)
    kiln = libs["kiln"]
    get = getattr(kiln.cuda, "get_device_name", None)
    return get(0) if get else "cuda:0"


class Clock:
    """Times queued GPU work of one library."""

    def __init__(self, lib, device="cuda"):
        self.lib = lib
        cpu = device == "cpu"  # nothing is queued: the host clock alone is right
        self.event = None if cpu else getattr(lib.cuda, "Event", None)
        self.sync = (lambda: None) if cpu else getattr(lib.cuda, "synchronize", None)
        self.method = "events" if self.event else ("synchronize" if self.sync else "readback")

    def synchronize(self, last):
        if self.sync is not None:
            self.sync()
        elif last is not None:  # a one-element read waits for the stream that computed it
            _first_element(last).item()

    def batch_ms(self, fn, iters):
        """Milliseconds per call of fn, over a batch of `iters` calls."""
        last = fn()
        self.synchronize(last)
        if self.event is not None:
            try:
                start, end = self.event(enable_timing=True), self.event(enable_timing=True)
                start.record()
                for _ in range(iters):
                    last = fn()
                end.record()
                end.synchronize()
                return start.elapsed_time(end) / iters
            except (TypeError, AttributeError, RuntimeError) as e:
                # An Event without torch's API: say so once and time on the host instead.
                print(f"note: {self.lib.__name__}.cuda.Event unusable ({e}); using "
                      "synchronize + perf_counter")
                self.event = None
                self.method = "synchronize" if self.sync else "readback"
        t0 = time.perf_counter()
        for _ in range(iters):
            last = fn()
        self.synchronize(last)
        return (time.perf_counter() - t0) * 1e3 / iters


def _first_element(t):
    if isinstance(t, (list, tuple)):
        t = t[-1]
    return t.reshape(-1)[0] if t.dim() > 0 else t


def measure(cases, args):
    """cases: {lib_name: fn}. Runs warmup, then args.rounds batches alternating libraries;
    returns {lib_name: {"ms": median, "rounds": [...], "timing": method}}."""
    clocks = {name: Clock(_lib_of(fn), args.device) for name, fn in cases.items()}
    for name, fn in cases.items():
        for _ in range(args.warmup):
            fn()
        clocks[name].synchronize(fn())
    rounds = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            rounds[name].append(clocks[name].batch_ms(fn, args.iters))
    return {name: {"ms": statistics.median(r), "rounds": r, "timing": clocks[name].method}
            for name, r in rounds.items()}


def _lib_of(fn):
    return fn.lib


def bind(lib, fn):
    """fn with the library it runs on attached (measure() needs it for the clock)."""
    fn.lib = lib
    return fn


def release(libs):
    """Returns cached blocks between cases so one case's tensors do not crowd the next."""
    import gc
    gc.collect()
    if "torch" in libs and libs["torch"].cuda.is_available():
        libs["torch"].cuda.empty_cache()


class Report:
    """Collects rows, prints them as a table, writes the JSON lines."""

    def __init__(self, bench, args, libs):
        self.bench, self.args, self.libs = bench, args, libs
        self.rows = []
        self.header = f"{bench} on {device_name(libs, args.device)}"

    def add(self, record):
        record = {"bench": self.bench, "device": self.args.device, **record}
        self.rows.append(record)

    def print_table(self, columns):
        """columns: [(title, key, format)]."""
        print(self.header)
        print(f"  rounds {self.args.rounds} x {self.args.iters} calls, warmup {self.args.warmup},"
              " medians")
        table = [[("-" if r.get(key) is None else (fmt.format(r[key]) if fmt else str(r[key])))
                  for _, key, fmt in columns] for r in self.rows]
        widths = [max([len(t)] + [len(row[i]) for row in table])
                  for i, (t, _, _) in enumerate(columns)]
        print("  " + "  ".join(t.rjust(w) for (t, _, _), w in zip(columns, widths)))
        for row in table:
            print("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths)))

    def write_json(self):
        lines = [json.dumps(r, sort_keys=True) for r in self.rows]
        if self.args.json:
            with open(self.args.json, "a") as f:
                for line in lines:
                    f.write(line + "\n")
            print(f"  {len(lines)} JSON lines appended to {self.args.json}")
        else:
            for line in lines:
                print(line)


def verdict(value, target, higher_is_better):
    if value is None:
        return "-"
    ok = value >= target if higher_is_better else value <= target
    return "meets target" if ok else "BELOW target" if higher_is_better else "ABOVE target"
