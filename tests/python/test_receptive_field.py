"""kiln.utils.receptive_field on the networks of tests/cpp/test_receptive_field.cpp, with the
same hand-worked answers (worked out in the comments there and here). Conventions: input pixel i
sits at i; per layer with kernel k, stride s, padding p, dilation d, k_eff = d (k - 1) + 1:
    j' = j s,   r' = r + (k_eff - 1) j,   start' = start + ((k_eff - 1) / 2 - p) j.
Where the extension has the C++ zoo (kiln._C._models), the C++ tables of the zoo's models are
compared with the Python ones row by row and character by character."""
import pytest

import kiln
import kiln.models as models
from kiln import nn
from kiln.utils.receptive_field import receptive_field


def expect_row(row, shape, r, j, start):
    assert tuple(row.output_shape) == tuple(shape), row.name
    for i in range(len(row.receptive_field)):
        assert row.receptive_field[i] == pytest.approx(r), (row.name, "field", i)
        assert row.jump[i] == pytest.approx(j), (row.name, "jump", i)
        assert row.start[i] == pytest.approx(start), (row.name, "start", i)


def conv(k, **kw):
    return nn.Conv2d(1, 1, k, **kw)


def test_two_convolutions_and_the_table():
    # 3x3 then 3x3: r 3 then 5; the first output's field is pixels 0..2 (centre 1), then 0..4
    # (centre 2). Sizes 9 -> 7 -> 5.
    rf = receptive_field(nn.Sequential(conv(3), conv(3)), (1, 1, 9, 9))
    assert len(rf.layers) == 3
    expect_row(rf.layers[0], (1, 1, 9, 9), 1, 1, 0)
    expect_row(rf.at("0"), (1, 1, 7, 7), 3, 1, 1)
    expect_row(rf.at("1"), (1, 1, 5, 5), 5, 1, 2)
    assert rf.layers[1].type == "Conv2d"
    # The same text as the C++ table (tests/cpp/test_receptive_field.cpp).
    assert str(rf) == ("layer  type    output shape  receptive field  jump  start\n"
                       "input  -       [1, 1, 9, 9]  1x1              1x1   0x0\n"
                       "0      Conv2d  [1, 1, 7, 7]  3x3              1x1   1x1\n"
                       "1      Conv2d  [1, 1, 5, 5]  5x5              1x1   2x2\n")


def test_strided_then_plain():
    # conv 3 s2: r 3, j 2, start 1, size 5; conv 3: r = 3 + 2*2 = 7, j 2, start 3, size 3.
    rf = receptive_field(nn.Sequential(conv(3, stride=2), conv(3)), (1, 1, 11, 11))
    expect_row(rf.at("0"), (1, 1, 5, 5), 3, 2, 1)
    expect_row(rf.at("1"), (1, 1, 3, 3), 7, 2, 3)


def test_dilated_and_padded():
    # d2 p2 (k_eff 5): r 5, start 0; d4 p4 (k_eff 9): r 13, start 0; k4 'same' (1 before):
    # r 16, start 0 + (1.5 - 1) = 0.5.
    net = nn.Sequential(conv(3, padding=2, dilation=2), conv(3, padding=4, dilation=4),
                        conv(4, padding="same"))
    rf = receptive_field(net, (1, 1, 16, 16))
    expect_row(rf.at("0"), (1, 1, 16, 16), 5, 1, 0)
    expect_row(rf.at("1"), (1, 1, 16, 16), 13, 1, 0)
    expect_row(rf.at("2"), (1, 1, 16, 16), 16, 1, 0.5)


def test_pooling():
    # conv 3 p1: r 3 j 1 start 0 (16); max pool 2: r 4 j 2 start 0.5 (8); conv 3 p1: r 8 (8);
    # avg pool 2: r 10 j 4 start 1.5 (4); max pool 3 s1 p1 d2 (k_eff 5): r 26, start 5.5 (2).
    net = nn.Sequential(conv(3, padding=1), nn.ReLU(), nn.MaxPool2d(2), conv(3, padding=1),
                        nn.AvgPool2d(2), nn.MaxPool2d(3, stride=1, padding=1, dilation=2))
    rf = receptive_field(net, (1, 1, 16, 16))
    expect_row(rf.at("1"), (1, 1, 16, 16), 3, 1, 0)
    expect_row(rf.at("2"), (1, 1, 8, 8), 4, 2, 0.5)
    expect_row(rf.at("3"), (1, 1, 8, 8), 8, 2, 0.5)
    expect_row(rf.at("4"), (1, 1, 4, 4), 10, 4, 1.5)
    expect_row(rf.at("5"), (1, 1, 2, 2), 26, 4, 5.5)


def test_one_and_three_dimensions():
    # Conv1d 5 s2 p2 on 20: r 5 j 2 start 0 (10); MaxPool1d 2: r 7 j 4 start 1 (5).
    rf = receptive_field(nn.Sequential(nn.Conv1d(1, 2, 5, stride=2, padding=2), nn.MaxPool1d(2)),
                         (1, 1, 20))
    expect_row(rf.at("0"), (1, 2, 10), 5, 2, 0)
    expect_row(rf.at("1"), (1, 2, 5), 7, 4, 1)
    rf3 = receptive_field(nn.Conv3d(1, 1, (3, 3, 1)), (1, 1, 6, 6, 6))
    row = rf3.layers[1]
    assert row.name == "model"
    assert tuple(row.output_shape) == (1, 1, 4, 4, 6)
    assert row.receptive_field == (3, 3, 1) and row.start == (1, 1, 0) and row.jump == (1, 1, 1)


def test_adaptive_pools():
    # 6 -> 3: kernel = stride = 2. 5 -> 3: windows [0, 2), [1, 4), [3, 5): r 3, start 0.5,
    # jump 5 / 3.
    expect_row(receptive_field(nn.AdaptiveAvgPool2d(3), (1, 1, 6, 6)).layers[1], (1, 1, 3, 3),
               2, 2, 0.5)
    expect_row(receptive_field(nn.AdaptiveMaxPool2d(3), (1, 1, 5, 5)).layers[1], (1, 1, 3, 3),
               3, 5 / 3, 0.5)


def test_padding_and_resampling():
    # ZeroPad2d 1: start -1; conv 3: start 0, r 3; PixelUnshuffle 2: r 4, j 2, start 0.5;
    # Upsample x2 nearest: start 0, j 1; PixelShuffle 2: start -0.25, j 0.5; Upsample to 31
    # (align_corners, bilinear): j 0.25, r 4.5.
    net = nn.Sequential(nn.ZeroPad2d(1), conv(3), nn.PixelUnshuffle(2),
                        nn.Upsample(scale_factor=2), nn.PixelShuffle(2),
                        nn.Upsample(size=(31, 31), mode="bilinear", align_corners=True))
    rf = receptive_field(net, (1, 1, 8, 8))
    expect_row(rf.at("0"), (1, 1, 10, 10), 1, 1, -1)
    expect_row(rf.at("1"), (1, 1, 8, 8), 3, 1, 0)
    expect_row(rf.at("2"), (1, 4, 4, 4), 4, 2, 0.5)
    expect_row(rf.at("3"), (1, 4, 8, 8), 4, 1, 0)
    expect_row(rf.at("4"), (1, 1, 16, 16), 4, 0.5, -0.25)
    expect_row(rf.at("5"), (1, 1, 31, 31), 4.5, 0.25, -0.25)
    # Fractions print as %.6g; the last line of the table:
    assert str(rf).splitlines()[-1] == ("5      Upsample        [1, 1, 31, 31]  4.5x4.5          "
                                        "0.25x0.25  -0.25x-0.25")


def test_flatten_folds_the_whole_input():
    # conv 3 on 6: r 3 start 1 size 4; Flatten: r = 3 + 3 = 6, start 2.5, j 4.
    rf = receptive_field(nn.Sequential(conv(3), nn.Flatten(), nn.Linear(16, 2)), (1, 1, 6, 6))
    expect_row(rf.at("1"), (1, 16), 6, 4, 2.5)
    expect_row(rf.at("2"), (1, 2), 6, 4, 2.5)


def test_lenet5():
    # conv1 5 p2: 5/1/0; pool: 6/2/0.5; conv2 5: 14/2/4.5; pool: 16/4/5.5; fc1 folds 5x5:
    # r = 16 + 16 = 32, start = 5.5 + 8 = 13.5 (the image centre), j 20.
    rf = receptive_field(models.LeNet5(), (1, 1, 28, 28))
    expect_row(rf.at("conv1"), (1, 6, 28, 28), 5, 1, 0)
    expect_row(rf.at("pool"), (1, 6, 14, 14), 6, 2, 0.5)
    expect_row(rf.at("conv2"), (1, 16, 10, 10), 14, 2, 4.5)
    expect_row(rf.at("pool", last=True), (1, 16, 5, 5), 16, 4, 5.5)
    expect_row(rf.at("fc1"), (1, 120), 32, 20, 13.5)
    assert len(rf.layers) == 12


def test_basic_block_stack():
    # Block 0: conv 3 p1: 3, 5. Block 1 (stride 2): 5 + 2 = 7 (j 2), 7 + 4 = 11. The shortcut
    # gets no row.
    ds = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
    net = nn.Sequential(models.BasicBlock(4, 4), models.BasicBlock(4, 8, 2, ds))
    rf = receptive_field(net, (2, 4, 8, 8))
    expect_row(rf.at("0.conv1"), (2, 4, 8, 8), 3, 1, 0)
    expect_row(rf.at("0.conv2"), (2, 4, 8, 8), 5, 1, 0)
    expect_row(rf.at("1.conv1"), (2, 8, 4, 4), 7, 2, 0)
    expect_row(rf.at("1.conv2"), (2, 8, 4, 4), 11, 2, 0)
    assert rf.layers[-1].name == "1.relu"
    assert not any("downsample" in row.name for row in rf.layers)
    assert len(rf.layers) == 1 + 2 * 6


def test_resnet18_cifar_stem():
    # conv1 3: 3; layer1: 11 (j 1); layer2: 25 (j 2); layer3: 53 (j 4); layer4: 109 (j 8);
    # avgpool 4 -> 1: 133, start 12, j 32.
    rf = receptive_field(models.resnet18(num_classes=10, stem="cifar"), (1, 3, 32, 32))
    expect_row(rf.at("maxpool"), (1, 64, 32, 32), 3, 1, 0)
    assert rf.at("maxpool").type == "Identity"
    expect_row(rf.at("layer1.1.relu", last=True), (1, 64, 32, 32), 11, 1, 0)
    expect_row(rf.at("layer2.1.relu", last=True), (1, 128, 16, 16), 25, 2, 0)
    expect_row(rf.at("layer3.1.relu", last=True), (1, 256, 8, 8), 53, 4, 0)
    expect_row(rf.at("layer4.1.relu", last=True), (1, 512, 4, 4), 109, 8, 0)
    expect_row(rf.at("avgpool"), (1, 512, 1, 1), 133, 32, 12)
    expect_row(rf.at("fc"), (1, 10), 133, 32, 12)


def test_resnet18_imagenet_stem_is_435():
    # conv1 7 s2 p3: 7 (j 2); maxpool 3 s2 p1: 11 (j 4); layer1: 43; layer2: 99; layer3: 211;
    # layer4: 435, j 32 (independent of the input size; 64x64 keeps it quick).
    rf = receptive_field(models.resnet18(), (1, 3, 64, 64))
    expect_row(rf.at("conv1"), (1, 64, 32, 32), 7, 2, 0)
    expect_row(rf.at("maxpool"), (1, 64, 16, 16), 11, 4, 0)
    expect_row(rf.at("layer1.1.relu", last=True), (1, 64, 16, 16), 43, 4, 0)
    expect_row(rf.at("layer2.1.relu", last=True), (1, 128, 8, 8), 99, 8, 0)
    expect_row(rf.at("layer3.1.relu", last=True), (1, 256, 4, 4), 211, 16, 0)
    expect_row(rf.at("layer4.1.relu", last=True), (1, 512, 2, 2), 435, 32, 0)


def test_unet_through_transposed_convolution():
    # inc: 3, 5; down1.0 pool: 6 (j 2, start 0.5); down1.1: 10, 14; up1 (k2 s2): j 1, start
    # 0.5 - 0.25 * 2 = 0, r 14; dec1: 16, 18; outc: 18. Bilinear: up1.0 r 16, dec1 18, 20.
    rf = receptive_field(models.UNet(in_channels=1, num_classes=2, base_channels=2, depth=1),
                         (1, 1, 8, 8))
    expect_row(rf.at("inc.3"), (1, 2, 8, 8), 5, 1, 0)
    expect_row(rf.at("down1.0"), (1, 2, 4, 4), 6, 2, 0.5)
    expect_row(rf.at("down1.1.3"), (1, 4, 4, 4), 14, 2, 0.5)
    expect_row(rf.at("up1"), (1, 2, 8, 8), 14, 1, 0)
    assert rf.at("up1").type == "ConvTranspose2d"
    expect_row(rf.at("dec1.3"), (1, 2, 8, 8), 18, 1, 0)
    expect_row(rf.at("outc"), (1, 2, 8, 8), 18, 1, 0)
    rfb = receptive_field(models.UNet(in_channels=1, num_classes=2, base_channels=2, depth=1,
                                      bilinear=True), (1, 1, 8, 8))
    expect_row(rfb.at("up1.0"), (1, 4, 8, 8), 16, 1, 0)
    expect_row(rfb.at("up1.1"), (1, 2, 8, 8), 16, 1, 0)
    expect_row(rfb.at("outc"), (1, 2, 8, 8), 20, 1, 0)


def test_restores_training_mode_and_leaves_statistics():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5))
    net.train()
    net[2].eval()
    receptive_field(net, (1, 1, 5, 5))
    assert net.training and net[1].training and not net[2].training
    assert net[1].num_batches_tracked.item() == 0
    assert net[1].running_mean.abs().sum().item() == 0


class TwoBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 1, 3)
        self.b = nn.Conv2d(1, 1, 3)

    def forward(self, x):
        return self.a(x) + self.b(x)


class Crop(nn.Module):
    def forward(self, x):
        return x[:, :, :2, :2]


def test_errors():
    with pytest.raises(ValueError, match="cannot trace TwoBranch .*Sequential or define "
                                         "trace_field"):
        receptive_field(TwoBranch(), (1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"Crop '1' changes the spatial size from \[6, 6\] to "
                                         r"\[2, 2\]"):
        receptive_field(nn.Sequential(conv(3), Crop()), (1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\[N, C, \*spatial\].*\[8, 8\]"):
        receptive_field(conv(3), (8, 8))
    with pytest.raises(ValueError, match="empty dimension"):
        receptive_field(conv(3), (1, 1, 0, 8))


# ---------------- the C++ walk gives the same table ----------------

ZOO = [("lenet5", {}, (1, 1, 28, 28)),
       ("resnet18", {"num_classes": 10, "stem": "cifar"}, (1, 3, 32, 32)),
       ("resnet50", {}, (1, 3, 64, 64)),
       ("vgg", {"cfg": [8, "M", 16, "M"], "batch_norm": True, "num_classes": 10,
                "pool_size": 2, "hidden": 16}, (1, 3, 16, 16)),
       ("unet", {"base_channels": 4, "depth": 2}, (1, 3, 16, 16)),
       ("unet", {"base_channels": 4, "depth": 2, "bilinear": True, "batch_norm": False},
        (1, 3, 16, 16))]


def python_model(name, kwargs):
    if name == "vgg":
        kw = dict(kwargs)
        return models.vgg(kw.pop("cfg"), kw.pop("batch_norm"), **kw)
    return {"lenet5": models.LeNet5, "resnet18": models.resnet18, "resnet50": models.resnet50,
            "unet": models.UNet}[name](**kwargs)


@pytest.mark.parametrize("name,kwargs,shape", ZOO, ids=[z[0] + str(i) for i, z in enumerate(ZOO)])
def test_cpp_walk_equals_python(name, kwargs, shape):
    zoo = getattr(kiln._C, "_models", None)
    if zoo is None:
        pytest.skip("this extension has no kiln._C._models (bind_models not registered in "
                    "python_bindings/src/module.cpp)")
    rows, table = zoo.receptive_field(name, list(shape), **kwargs)
    rf = receptive_field(python_model(name, kwargs), shape)
    assert len(rows) == len(rf.layers)
    for cpp, py in zip(rows, rf.layers):
        assert cpp[0] == py.name and cpp[1] == py.type, (cpp[:2], py[:2])
        assert tuple(cpp[2]) == tuple(py.output_shape), py.name
        for a, b in zip(cpp[3:], py[3:]):
            assert tuple(a) == pytest.approx(tuple(b), abs=1e-9), py.name
    assert table == str(rf)
