"""VGG as torchvision builds it (features / avgpool / classifier, torchvision's names and
initialisation), with the sizes torchvision fixes made options: pool_size (the adaptive
average pool's output, 7) and hidden (the classifier's width, 4096). A CIFAR-sized net:
vgg("vgg11", batch_norm=True, num_classes=10, pool_size=1, hidden=512). The C++ twin is
kiln::models::VGG (a configuration's "M" is kiln::models::kPool there)."""
from .. import flatten, nn
from ..utils.receptive_field import FieldTracer

__all__ = ["VGG", "cfgs", "make_layers", "vgg", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn",
           "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

cfgs = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
              "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512,
              512, 512, 512, "M"],
}


def make_layers(cfg, batch_norm=False, in_channels=3):
    """torchvision's make_layers: 3x3 convolutions (padding 1) [+ BatchNorm2d] + ReLU per
    number, MaxPool2d(2, 2) per "M"."""
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU())
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5, pool_size=7,
                 hidden=4096):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        channels = [m.out_channels for m in features.modules() if isinstance(m, nn.Conv2d)][-1]
        self.classifier = nn.Sequential(
            nn.Linear(channels * pool_size * pool_size, hidden), nn.ReLU(), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes))
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def _run(self, x, tracer):
        x = FieldTracer.call(tracer, "features", self.features, x)
        x = FieldTracer.call(tracer, "avgpool", self.avgpool, x)
        return FieldTracer.call(tracer, "classifier", self.classifier, flatten(x, 1))

    def forward(self, x):
        return self._run(x, None)

    def trace_field(self, tracer, x):
        return self._run(x, tracer)


def vgg(cfg="vgg11", batch_norm=False, in_channels=3, **kwargs):
    """A VGG from a configuration name or list; kwargs go to VGG (num_classes, init_weights,
    dropout, pool_size, hidden)."""
    if isinstance(cfg, str):
        if cfg not in cfgs:
            raise ValueError(f"vgg: unknown configuration '{cfg}' (available: "
                             f"{', '.join(cfgs)})")
        cfg = cfgs[cfg]
    return VGG(make_layers(cfg, batch_norm, in_channels), **kwargs)


def vgg11(**kwargs):
    return vgg("vgg11", False, **kwargs)


def vgg11_bn(**kwargs):
    return vgg("vgg11", True, **kwargs)


def vgg13(**kwargs):
    return vgg("vgg13", False, **kwargs)


def vgg13_bn(**kwargs):
    return vgg("vgg13", True, **kwargs)


def vgg16(**kwargs):
    return vgg("vgg16", False, **kwargs)


def vgg16_bn(**kwargs):
    return vgg("vgg16", True, **kwargs)


def vgg19(**kwargs):
    return vgg("vgg19", False, **kwargs)


def vgg19_bn(**kwargs):
    return vgg("vgg19", True, **kwargs)
