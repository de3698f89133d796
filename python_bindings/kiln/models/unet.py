"""A small U-Net with "same" 3x3 convolutions (as C++'s kiln::models::UNet): inc, down1..downD
(MaxPool2d(2) + DoubleConv), up1..upD (ConvTranspose2d(c, c/2, 2, stride 2), or with bilinear
Upsample(x2) + a 1x1 convolution), dec1..decD (DoubleConv on cat([skip, upsampled], 1)), outc
(1x1). DoubleConv is an nn.Sequential of (Conv2d 3x3, BatchNorm2d, ReLU) x 2 (without
batch_norm: Conv2d with bias, ReLU). Height and width must be multiples of 2^depth."""
from .. import cat, nn
from ..utils.receptive_field import FieldTracer

__all__ = ["UNet", "double_conv"]


def double_conv(in_channels, out_channels, batch_norm=True):
    layers = []
    for c in (in_channels, out_channels):
        # A bias before BatchNorm would only shift what it subtracts again.
        layers.append(nn.Conv2d(c, out_channels, kernel_size=3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class UNet(nn.Module):
    def __init__(self, in_channels=3, num_classes=2, base_channels=16, depth=3, bilinear=False,
                 batch_norm=True):
        super().__init__()
        if min(in_channels, num_classes, base_channels, depth) < 1:
            raise ValueError("UNet: depth, base_channels, in_channels and num_classes must be "
                             "positive")
        self.depth = depth
        self.inc = double_conv(in_channels, base_channels, batch_norm)
        c = base_channels
        for i in range(1, depth + 1):
            setattr(self, f"down{i}", nn.Sequential(nn.MaxPool2d(2),
                                                    double_conv(c, 2 * c, batch_norm)))
            c *= 2
        for i in range(1, depth + 1):
            if bilinear:
                up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear",
                                               align_corners=False),
                                   nn.Conv2d(c, c // 2, kernel_size=1))
            else:
                up = nn.ConvTranspose2d(c, c // 2, kernel_size=2, stride=2)
            setattr(self, f"up{i}", up)
            setattr(self, f"dec{i}", double_conv(c, c // 2, batch_norm))
            c //= 2
        self.outc = nn.Conv2d(base_channels, num_classes, kernel_size=1)

    def _run(self, x, tracer):
        multiple = 2 ** self.depth
        if x.dim() != 4 or x.shape[2] % multiple or x.shape[3] % multiple:
            raise ValueError(f"UNet: expected input [N, C, H, W] with H and W multiples of "
                             f"{multiple} (depth {self.depth}), got {list(x.shape)}")
        call = FieldTracer.call
        skips = []
        h = call(tracer, "inc", self.inc, x)
        for i in range(1, self.depth + 1):
            skips.append(h)
            h = call(tracer, f"down{i}", getattr(self, f"down{i}"), h)
        # The main path runs through the bottleneck; the skips join it by concatenation.
        for i in range(1, self.depth + 1):
            h = call(tracer, f"up{i}", getattr(self, f"up{i}"), h)
            h = cat([skips[-i], h], 1)
            h = call(tracer, f"dec{i}", getattr(self, f"dec{i}"), h)
        return call(tracer, "outc", self.outc, h)

    def forward(self, x):
        return self._run(x, None)

    def trace_field(self, tracer, x):
        return self._run(x, tracer)
