"""Softmax over rows on the GPU, Kiln and PyTorch side by side in one process.

softmax(x, dim=-1) of a 4096 x 4096 matrix in float32 and in bfloat16: milliseconds per call,
effective bandwidth (read x, write the result) and the time ratio kiln/torch. Target: ratio
<= 1.0 (Kiln at least as fast). Also log_softmax, for information. Run on a GPU machine:

    python3 bench/gpu_softmax.py [--rows 4096] [--cols 4096] [--rounds 7] [--iters 20] [--json F]
"""
import gpu_common as gc

TARGET = 1.0


def main():
    def extra(p):
        p.add_argument("--rows", type=int, default=4096)
        p.add_argument("--cols", type=int, default=4096)

    args = gc.parse_args(__doc__.splitlines()[0], iters=50, extra=extra)
    libs = gc.require_kiln("gpu_softmax", args.device)
    if libs is None:
        return
    report = gc.Report("gpu_softmax", args, libs)
    for dtype_name, size in [("float32", 4), ("bfloat16", 2)]:
        for op in ["softmax", "log_softmax"]:
            fns = {}
            for name, lib in libs.items():
                lib.manual_seed(0)
                x = lib.randn(args.rows, args.cols, device=args.device).to(getattr(lib, dtype_name))
                f = getattr(lib.nn.functional, op)
                fns[name] = gc.bind(lib, lambda f=f, x=x: f(x, dim=-1))
            res = gc.measure(fns, args)
            for name in libs:
                r = res[name]
                rec = {"case": f"{op} {args.rows}x{args.cols}", "lib": name, "dtype": dtype_name,
                       "ms": r["ms"], "ms_rounds": r["rounds"], "timing": r["timing"],
                       "gb_per_s": 2 * size * args.rows * args.cols / (r["ms"] * 1e-3) / 1e9}
                if "torch" in libs and name == "kiln":
                    rec["ratio_time_kiln_over_torch"] = r["ms"] / res["torch"]["ms"]
                    if op == "softmax":
                        rec["target"] = f"ratio <= {TARGET}"
                        rec["verdict"] = gc.verdict(rec["ratio_time_kiln_over_torch"], TARGET,
                                                    False)
                report.add(rec)
            del fns
            gc.release(libs)
    report.print_table([("case", "case", None), ("dtype", "dtype", None), ("lib", "lib", None),
                        ("ms", "ms", "{:.4f}"), ("GB/s", "gb_per_s", "{:.0f}"),
                        ("kiln/torch t", "ratio_time_kiln_over_torch", "{:.3f}"),
                        ("verdict", "verdict", None)])
    report.write_json()


if __name__ == "__main__":
    main()
