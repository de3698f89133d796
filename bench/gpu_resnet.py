"""ResNet-18 training throughput on the GPU, Kiln and PyTorch (eager) side by side in one process.

The model is ResNet-18 with the CIFAR stem (3x3 stride-1 conv1, no max pool; 10 classes) on
3x32x32 inputs at batch 256: kiln.models.resnet18(num_classes=10, stem="cifar") and the same
network in torch (tests/python/torch_models.py, torchvision's definition; torchvision itself is
not needed). One step = forward, cross_entropy, backward, SGD (lr 0.01, momentum 0.9) step,
zero_grad(set_to_none=True), queued back to back without reading the loss. Cases:
  - float32 (TF32 off on both sides), default (NCHW) layout;
  - bfloat16 weights and inputs in channels-last (NHWC) layout (model and input
    .to(memory_format=channels_last)), where cuDNN uses tensor cores.
Reported: ms per step, images/s, ratio kiln/torch of time. Target: ratio < 1 (Kiln faster than
PyTorch eager). Where a library has no channels_last (kiln.channels_last / Module.to(
memory_format=...) missing), that case runs in its default layout and the `layout` column says
so. Run on a GPU machine:

    python3 bench/gpu_resnet.py [--rounds 5] [--iters 10] [--batch 256] [--json FILE]

`--device cpu --batch 4 --rounds 1 --iters 1 --warmup 1` smoke-tests the script on a machine
without a GPU (the figures then mean nothing).
"""
import os
import sys

import gpu_common as gc

sys.path.insert(0, os.path.join(gc.ROOT, "tests", "python"))

CLASSES = 10


def extra_args(p):
    p.add_argument("--batch", type=int, default=256, help="images per step (default 256)")


def build_model(name, lib):
    if name == "kiln":
        import kiln.models
        return kiln.models.resnet18(num_classes=CLASSES, stem="cifar")
    import torch_models
    return torch_models.resnet(18, num_classes=CLASSES, stem="cifar")


def to_channels_last(lib, obj):
    """obj.to(memory_format=channels_last), or None when the library cannot."""
    fmt = getattr(lib, "channels_last", None)
    if fmt is None:
        return None
    try:
        return obj.to(memory_format=fmt)
    except (TypeError, AttributeError, RuntimeError, NotImplementedError):
        return None


def make_step(name, lib, dtype_name, batch, device):
    lib.manual_seed(0)
    dtype = getattr(lib, dtype_name)
    model = build_model(name, lib).to(device).to(dtype)
    x = lib.randn(batch, 3, 32, 32, device=device).to(dtype)
    y = lib.randint(0, CLASSES, (batch,), device=device)
    layout = "nchw"
    if dtype_name == "bfloat16":
        m, xc = to_channels_last(lib, model), to_channels_last(lib, x)
        if m is not None and xc is not None:
            model, x, layout = m, xc, "channels_last"
        else:
            layout = "nchw (no channels_last in this build)"
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    F = lib.nn.functional

    def step():
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return gc.bind(lib, step), layout


def main():
    args = gc.parse_args(__doc__.splitlines()[0], rounds=5, iters=10, warmup=3, extra=extra_args)
    libs = gc.require_kiln("gpu_resnet", args.device)
    if libs is None:
        return
    if "torch" in libs and args.device != "cpu":
        libs["torch"].backends.cuda.matmul.allow_tf32 = False
        libs["torch"].backends.cudnn.allow_tf32 = False
        libs["torch"].backends.cudnn.benchmark = True  # its fastest eager configuration
    report = gc.Report("gpu_resnet", args, libs)
    for dtype_name in ["float32", "bfloat16"]:
        fns, layouts = {}, {}
        for name, lib in libs.items():
            fns[name], layouts[name] = make_step(name, lib, dtype_name, args.batch, args.device)
        res = gc.measure(fns, args)
        for name in libs:
            r = res[name]
            rec = {"case": f"resnet18-cifar b{args.batch} {dtype_name}", "lib": name,
                   "dtype": dtype_name, "layout": layouts[name], "ms": r["ms"],
                   "ms_rounds": r["rounds"], "timing": r["timing"],
                   "images_per_s": args.batch / (r["ms"] * 1e-3)}
            if "torch" in libs and name == "kiln":
                rec["ratio_time_kiln_over_torch"] = r["ms"] / res["torch"]["ms"]
                rec["target"] = "ratio < 1"
                rec["verdict"] = ("meets target" if rec["ratio_time_kiln_over_torch"] < 1
                                  else "ABOVE target")
            report.add(rec)
        del fns
        gc.release(libs)
    report.print_table([("case", "case", None), ("lib", "lib", None), ("layout", "layout", None),
                        ("ms/step", "ms", "{:.2f}"), ("images/s", "images_per_s", "{:.0f}"),
                        ("kiln/torch t", "ratio_time_kiln_over_torch", "{:.3f}"),
                        ("verdict", "verdict", None)])
    report.write_json()


if __name__ == "__main__":
    main()
