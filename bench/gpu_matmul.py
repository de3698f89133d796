"""Matrix product throughput on the GPU, Kiln and PyTorch side by side in one process.

bfloat16 (float32 accumulation) 8192 x 8192 x 8192 (a @ b): TFLOP/s = 2 n^3 / time, and the
ratio kiln/torch of TFLOP/s. Target: >= 0.95. Also float32 (TF32 off on both sides: Kiln's
default; torch.backends.cuda.matmul.allow_tf32 = False) at 4096^3, for information. Run on a GPU
machine:

    python3 bench/gpu_matmul.py [--n 8192] [--rounds 5] [--iters 10] [--json FILE]
"""
import gpu_common as gc

TARGET = 0.95


def main():
    args = gc.parse_args(__doc__.splitlines()[0], rounds=5, iters=10, warmup=3,
                         extra=lambda p: p.add_argument("--n", type=int, default=8192))
    libs = gc.require_kiln("gpu_matmul", args.device)
    if libs is None:
        return
    if "torch" in libs:
        libs["torch"].backends.cuda.matmul.allow_tf32 = False
    report = gc.Report("gpu_matmul", args, libs)
    for dtype_name, n in [("bfloat16", args.n), ("float32", max(args.n // 2, 1))]:
        fns = {}
        for name, lib in libs.items():
            lib.manual_seed(0)
            a = lib.randn(n, n, device=args.device).to(getattr(lib, dtype_name))
            b = lib.randn(n, n, device=args.device).to(getattr(lib, dtype_name))
            fns[name] = gc.bind(lib, lambda a=a, b=b: a @ b)
        res = gc.measure(fns, args)
        for name in libs:
            r = res[name]
            tflops = 2 * n ** 3 / (r["ms"] * 1e-3) / 1e12
            rec = {"case": f"matmul {n}^3", "lib": name, "dtype": dtype_name, "ms": r["ms"],
                   "ms_rounds": r["rounds"], "timing": r["timing"], "tflop_per_s": tflops}
            if "torch" in libs and name == "kiln":
                t_tflops = 2 * n ** 3 / (res["torch"]["ms"] * 1e-3) / 1e12
                rec["ratio_tflops_kiln_over_torch"] = tflops / t_tflops
                if dtype_name == "bfloat16":
                    rec["target"] = f"ratio >= {TARGET}"
                    rec["verdict"] = gc.verdict(rec["ratio_tflops_kiln_over_torch"], TARGET, True)
            report.add(rec)
        del fns
        gc.release(libs)
    report.print_table([("case", "case", None), ("dtype", "dtype", None), ("lib", "lib", None),
                        ("ms", "ms", "{:.3f}"), ("TFLOP/s", "tflop_per_s", "{:.1f}"),
                        ("kiln/torch", "ratio_tflops_kiln_over_torch", "{:.3f}"),
                        ("verdict", "verdict", None)])
    report.write_json()


if __name__ == "__main__":
    main()
