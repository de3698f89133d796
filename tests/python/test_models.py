"""kiln.models against PyTorch definitions of the same networks (tests/python/torch_models.py,
transcribed from torchvision where torchvision has the model): state_dict names, order and
shapes, reprs, and forward outputs (float64, train and eval mode, plus gradients for LeNet and a
ResNet) after loading torch's weights; and the C++ zoo's state_dict names and shapes and repr
equal to Python's (through kiln._C._models, when the extension registers it)."""
import re

import numpy as np
import pytest
import torch

import kiln
import kiln.models as models
from parity import assert_close, same_weights, to_kiln
import torch_models as tm

F64 = dict(rtol=1e-9, atol=1e-10)


def state_shapes(module):
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


# (id, kiln builder, torch builder, input shape for the forward test or None)
CASES = [
    ("lenet5", lambda: models.LeNet5(), lambda: tm.LeNet5(), (2, 1, 28, 28)),
    ("lenet5_rgb7", lambda: models.LeNet5(num_classes=7, in_channels=3),
     lambda: tm.LeNet5(7, 3), None),
    ("resnet18", lambda: models.resnet18(), lambda: tm.resnet(18), (2, 3, 64, 64)),
    ("resnet18_cifar", lambda: models.resnet18(num_classes=10, stem="cifar"),
     lambda: tm.resnet(18, num_classes=10, stem="cifar"), (2, 3, 16, 16)),
    ("resnet34", lambda: models.resnet34(num_classes=10), lambda: tm.resnet(34, num_classes=10),
     None),
    ("resnet50", lambda: models.resnet50(num_classes=10), lambda: tm.resnet(50, num_classes=10),
     (2, 3, 32, 32)),
    ("vgg_small_bn", lambda: models.vgg([8, "M", 16, 16, "M"], True, num_classes=10, pool_size=2,
                                        hidden=32),
     lambda: tm.VGG(tm.make_layers([8, "M", 16, 16, "M"], True), 10, pool_size=2, hidden=32,
                    last_channels=16), (2, 3, 16, 16)),
    ("vgg11", lambda: models.vgg11(num_classes=10, pool_size=1, hidden=64),
     lambda: tm.VGG(tm.make_layers(tm_cfg_vgg11()), 10, pool_size=1, hidden=64), None),
    ("unet", lambda: models.UNet(base_channels=4), lambda: tm.UNet(base_channels=4),
     (2, 3, 16, 16)),
    ("unet_bilinear", lambda: models.UNet(1, 3, base_channels=4, depth=2, bilinear=True,
                                          batch_norm=False),
     lambda: tm.UNet(1, 3, base_channels=4, depth=2, bilinear=True, batch_norm=False),
     (2, 1, 8, 8)),
]


def tm_cfg_vgg11():
    return [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_state_dict_and_repr_equal_torch(case):
    _, make_kiln, make_torch, _ = case
    k, t = make_kiln(), make_torch()
    assert state_shapes(k) == state_shapes(t)  # names, order and shapes
    assert repr(k) == repr(t)


@pytest.mark.parametrize("case", [c for c in CASES if c[3] is not None],
                         ids=[c[0] for c in CASES if c[3] is not None])
def test_forward_equals_torch(case):
    _, make_kiln, make_torch, shape = case
    torch.manual_seed(0)
    t = make_torch().double()
    # Non-trivial BatchNorm state, so that eval mode uses statistics other than 0 / 1.
    for name, buf in t.named_buffers():
        if name.endswith("running_mean"):
            buf.uniform_(-0.5, 0.5)
        elif name.endswith("running_var"):
            buf.uniform_(0.5, 2.0)
    for name, p in t.named_parameters():
        if ".bn" in name or "bn1" in name or "downsample.1" in name:
            with torch.no_grad():
                p.uniform_(0.5, 1.5)
    k = make_kiln().to(kiln.float64)
    same_weights(k, t)
    x = torch.randn(*shape, dtype=torch.float64)
    for train in (False, True):
        k.train(train)
        t.train(train)
        if any(isinstance(m, torch.nn.Dropout) for m in t.modules()):
            # Dropout draws differ between the libraries: compare with it switched off.
            for km, tmod in zip(k.modules(), t.modules()):
                if isinstance(tmod, torch.nn.Dropout):
                    km.p = tmod.p = 0.0
        # Training-mode BatchNorm on 2-sample batches of 1x1 maps (ResNet-50's layer4 at 32x32)
        # divides by tiny batch variances, which magnify last-bit differences: 1e-7 there.
        tol = dict(rtol=1e-7, atol=1e-8) if train else F64
        assert_close(k(to_kiln(x)), t(x), msg=f"train={train}", **tol)
    # Training-mode forwards updated the running statistics alike.
    ks, ts = k.state_dict(), t.state_dict()
    for name in ts:
        if "running" in name or "num_batches" in name:
            np.testing.assert_allclose(ks[name].numpy(), ts[name].numpy(), err_msg=name, **F64)


@pytest.mark.parametrize("make", [
    ("lenet5", lambda: models.LeNet5(), lambda: tm.LeNet5(), (3, 1, 28, 28)),
    ("resnet_cifar_1111", lambda: models.ResNet(models.BasicBlock, [1, 1, 1, 1], num_classes=5,
                                                stem="cifar"),
     lambda: tm.ResNet(tm.BasicBlock, [1, 1, 1, 1], num_classes=5, stem="cifar"),
     (2, 3, 8, 8)),
], ids=lambda m: m[0])
def test_gradients_equal_torch(make):
    _, make_kiln, make_torch, shape = make
    torch.manual_seed(1)
    t = make_torch().double()
    k = make_kiln().to(kiln.float64)
    same_weights(k, t)
    x = torch.randn(*shape, dtype=torch.float64)
    y = torch.randint(0, 5, (shape[0],))
    torch.nn.functional.cross_entropy(t(x), y).backward()
    kiln.nn.functional.cross_entropy(k(to_kiln(x)), to_kiln(y)).backward()
    tp = dict(t.named_parameters())
    for name, p in k.named_parameters():
        assert_close(p.grad, tp[name].grad, msg=name, **F64)


def test_options_and_errors():
    r = models.resnet18(zero_init_residual=True)
    assert all(b.bn2.weight.abs().sum().item() == 0 for layer in
               (r.layer1, r.layer2, r.layer3, r.layer4) for b in layer)
    r50 = models.resnet50(zero_init_residual=True)
    assert r50.layer3[2].bn3.weight.abs().sum().item() == 0
    assert r50.layer3[2].bn2.weight.sum().item() == 256
    with pytest.raises(ValueError, match="unknown depth 101"):
        models.resnet(101)
    with pytest.raises(ValueError, match="unknown stem 'tiny'"):
        models.resnet18(stem="tiny")
    with pytest.raises(ValueError, match="unknown configuration 'vgg99'"):
        models.vgg("vgg99")
    with pytest.raises(ValueError, match=r"multiples of 8 \(depth 3\), got \[1, 3, 12, 16\]"):
        models.UNet()(kiln.randn(1, 3, 12, 16))
    assert tuple(models.UNet(base_channels=4)(kiln.randn(1, 3, 16, 24)).shape) == (1, 2, 16, 24)


# ---------------- the C++ zoo has the same names, shapes and repr ----------------

CPP = [("lenet5", {}, lambda: models.LeNet5()),
       ("lenet5", {"num_classes": 7, "in_channels": 3},
        lambda: models.LeNet5(num_classes=7, in_channels=3)),
       ("resnet18", {}, lambda: models.resnet18()),
       ("resnet18", {"num_classes": 10, "stem": "cifar", "zero_init_residual": True},
        lambda: models.resnet18(num_classes=10, stem="cifar")),
       ("resnet34", {"num_classes": 10}, lambda: models.resnet34(num_classes=10)),
       ("resnet50", {"in_channels": 1}, lambda: models.resnet50(in_channels=1)),
       ("vgg", {"cfg": "vgg11", "batch_norm": True, "num_classes": 10, "pool_size": 1,
                "hidden": 64}, lambda: models.vgg11_bn(num_classes=10, pool_size=1, hidden=64)),
       ("vgg", {"cfg": [8, "M", 16], "num_classes": 3, "pool_size": 2, "hidden": 8},
        lambda: models.vgg([8, "M", 16], num_classes=3, pool_size=2, hidden=8)),
       ("unet", {}, lambda: models.UNet()),
       ("unet", {"in_channels": 1, "num_classes": 3, "base_channels": 8, "depth": 2,
                 "bilinear": True, "batch_norm": False},
        lambda: models.UNet(1, 3, 8, 2, bilinear=True, batch_norm=False))]


@pytest.mark.parametrize("name,kwargs,make", CPP, ids=[f"{c[0]}{i}" for i, c in enumerate(CPP)])
def test_cpp_zoo_equals_python(name, kwargs, make):
    zoo = getattr(kiln._C, "_models", None)
    if zoo is None:
        pytest.skip("this extension has no kiln._C._models (bind_models not registered in "
                    "python_bindings/src/module.cpp)")
    py = make()
    assert [(k, tuple(s)) for k, s in zoo.state_dict_shapes(name, **kwargs)] == state_shapes(py)
    # C++'s AdaptiveAvgPool2d keeps one {h, w} and prints equal sizes once (torch's form for an
    # int argument); torchvision, and so kiln.models, passes a tuple: "(1, 1)".
    expected = re.sub(r"output_size=\((\d+), \1\)", r"output_size=\1", repr(py))
    assert zoo.repr(name, **kwargs) == expected


def test_cpp_zoo_rejects_unknown_arguments():
    zoo = getattr(kiln._C, "_models", None)
    if zoo is None:
        pytest.skip("this extension has no kiln._C._models")
    with pytest.raises(TypeError, match="resnet18: unexpected keyword argument 'depth'"):
        zoo.state_dict_shapes("resnet18", depth=3)
    with pytest.raises(ValueError, match="unknown model 'alexnet'"):
        zoo.repr("alexnet")
