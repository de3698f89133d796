"""MLP training steps on the GPU, Kiln and PyTorch (eager) side by side in one process.

One step = forward, cross_entropy, backward, optimizer step, zero_grad(set_to_none=True), for
  - MLP 784-512-256-10 (ReLU), batch 128: launch- and overhead-bound;
  - MLP 784-4096-4096-10 (ReLU), batch 1024: matrix-product-bound;
each with SGD (momentum 0.9) and Adam (torch's default implementation on CUDA), float32 (TF32
off on both sides). Steps are queued back to back, without reading the loss, and synchronised
at the end of each timed batch. Reported: ms per step, samples/s, ratio kiln/torch of time.
Target: ratio < 1 (Kiln faster than PyTorch eager). Run on a GPU machine:

    python3 bench/gpu_mlp.py [--rounds 7] [--iters 20] [--json FILE]
"""
import gpu_common as gc

MODELS = [("784-512-256-10", [784, 512, 256, 10], 128),
          ("784-4096-4096-10", [784, 4096, 4096, 10], 1024)]


def make_step(lib, sizes, batch, optimizer, device):
    lib.manual_seed(0)
    nn = lib.nn
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to(device)
    if optimizer == "sgd":
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        # Each library's fastest Adam on the device: Kiln's fused step (torch 1.13's Python default
        # is fused=False), torch's fused kernel where its version has one on this device, else
        # its default (foreach on CUDA).
        try:
            opt = lib.optim.Adam(model.parameters(), lr=1e-3, fused=str(device).startswith("cuda"))
        except (TypeError, RuntimeError):
            opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x = lib.randn(batch, sizes[0], device=device)
    y = lib.randint(0, sizes[-1], (batch,), device=device)
    F = nn.functional

    def step():
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return gc.bind(lib, step)


def main():
    args = gc.parse_args(__doc__.splitlines()[0])
    libs = gc.require_kiln("gpu_mlp", args.device)
    if libs is None:
        return
    if "torch" in libs:
        libs["torch"].backends.cuda.matmul.allow_tf32 = False
    report = gc.Report("gpu_mlp", args, libs)
    for model_name, sizes, batch in MODELS:
        for optimizer in ["sgd", "adam"]:
            fns = {name: make_step(lib, sizes, batch, optimizer, args.device)
                   for name, lib in libs.items()}
            res = gc.measure(fns, args)
            for name in libs:
                r = res[name]
                rec = {"case": f"mlp {model_name} b{batch} {optimizer}", "lib": name,
                       "dtype": "float32", "ms": r["ms"], "ms_rounds": r["rounds"],
                       "timing": r["timing"], "samples_per_s": batch / (r["ms"] * 1e-3)}
                if "torch" in libs and name == "kiln":
                    rec["ratio_time_kiln_over_torch"] = r["ms"] / res["torch"]["ms"]
                    rec["target"] = "ratio < 1"
                    rec["verdict"] = ("meets target" if rec["ratio_time_kiln_over_torch"] < 1
                                      else "ABOVE target")
                report.add(rec)
            del fns
            gc.release(libs)
    report.print_table([("case", "case", None), ("lib", "lib", None), ("ms/step", "ms", "{:.3f}"),
                        ("samples/s", "samples_per_s", "{:.0f}"),
                        ("kiln/torch t", "ratio_time_kiln_over_torch", "{:.3f}"),
                        ("verdict", "verdict", None)])
    report.write_json()


if __name__ == "__main__":
    main()
