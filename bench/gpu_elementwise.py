"""Elementwise bandwidth on the GPU, Kiln and PyTorch side by side in one process.

add (a + b), mul (a * b) and GELU (exact, erf) on 2^26 float32 elements; effective bandwidth =
bytes read + bytes written per call / time (add, mul: 3 x 4 bytes per element; gelu: 2 x 4),
as a fraction of a device-to-device copy (dst.copy_(src): 2 x 4 bytes per element) measured in
the same run. Target: >= 0.90 of the copy, for each op.

Two fractions are printed: of the library's own copy, and of the faster of the two copies (the
honest one when one library's copy is slow). Run on a GPU machine after a CUDA build:

    python3 bench/gpu_elementwise.py [--log2n 26] [--rounds 7] [--iters 20] [--json FILE]
"""
import gpu_common as gc

TARGET = 0.90


def main():
    args = gc.parse_args(__doc__.splitlines()[0], extra=lambda p: p.add_argument(
        "--log2n", type=int, default=26, help="elements: 2^log2n float32"))
    libs = gc.require_kiln("gpu_elementwise", args.device)
    if libs is None:
        return
    n = 1 << args.log2n
    report = gc.Report("gpu_elementwise", args, libs)
    tensors = {}
    for name, lib in libs.items():
        lib.manual_seed(0)
        a = lib.randn(n, device=args.device)
        b = lib.randn(n, device=args.device)
        tensors[name] = (a, b, lib.empty(n, device=args.device))

    def op_fn(name, op):
        lib = libs[name]
        a, b, dst = tensors[name]
        F = lib.nn.functional
        fns = {"copy": lambda: dst.copy_(a), "add": lambda: a + b, "mul": lambda: a * b,
               "gelu": lambda: F.gelu(a)}
        return gc.bind(lib, fns[op])

    bytes_per_call = {"copy": 8 * n, "add": 12 * n, "mul": 12 * n, "gelu": 8 * n}
    results = {}
    for op in ["copy", "add", "mul", "gelu"]:
        results[op] = gc.measure({name: op_fn(name, op) for name in libs}, args)
    best_copy = max(bytes_per_call["copy"] / (results["copy"][lib]["ms"] * 1e-3) for lib in libs)
    for op in ["copy", "add", "mul", "gelu"]:
        for lib in libs:
            r = results[op][lib]
            gbs = bytes_per_call[op] / (r["ms"] * 1e-3) / 1e9
            own_copy = bytes_per_call["copy"] / (results["copy"][lib]["ms"] * 1e-3) / 1e9
            rec = {"case": op, "lib": lib, "dtype": "float32", "n": n, "ms": r["ms"],
                   "ms_rounds": r["rounds"], "timing": r["timing"], "gb_per_s": gbs,
                   "fraction_of_own_copy": gbs / own_copy,
                   "fraction_of_best_copy": gbs * 1e9 / best_copy}
            if op != "copy":
                rec["target"] = f">= {TARGET} of copy"
                rec["verdict"] = gc.verdict(rec["fraction_of_own_copy"], TARGET, True)
            if "torch" in libs and lib == "kiln":
                rec["ratio_time_kiln_over_torch"] = r["ms"] / results[op]["torch"]["ms"]
            report.add(rec)
    report.print_table([("case", "case", None), ("lib", "lib", None), ("ms", "ms", "{:.4f}"),
                        ("GB/s", "gb_per_s", "{:.0f}"),
                        ("of own copy", "fraction_of_own_copy", "{:.3f}"),
                        ("of best copy", "fraction_of_best_copy", "{:.3f}"),
                        ("kiln/torch t", "ratio_time_kiln_over_torch", "{:.3f}"),
                        ("verdict", "verdict", None)])
    report.write_json()


if __name__ == "__main__":
    main()
