"""ResNet as torchvision builds it (v1.5, torchvision's module and parameter names: conv1, bn1,
relu, maxpool, layer1..layer4 of BasicBlock / Bottleneck blocks with downsample.0/1, avgpool,
fc), plus a CIFAR stem: stem="cifar" makes conv1 a 3x3 stride-1 convolution and maxpool an
Identity (names unchanged). The C++ twin is kiln::models::ResNet."""
from .. import flatten, nn
from ..utils.receptive_field import FieldTracer

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet", "resnet18", "resnet34", "resnet50"]


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _shortcut(downsample, x):
    # Beside the main path, not traced: its field lies inside the main path's.
    return x if downsample is None else downsample(x)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def _run(self, x, tracer):
        call = FieldTracer.call
        out = call(tracer, "relu", self.relu,
                   call(tracer, "bn1", self.bn1, call(tracer, "conv1", self.conv1, x)))
        out = call(tracer, "bn2", self.bn2, call(tracer, "conv2", self.conv2, out))
        return call(tracer, "relu", self.relu, out + _shortcut(self.downsample, x))

    def forward(self, x):
        return self._run(x, None)

    def trace_field(self, tracer, x):
        return self._run(x, tracer)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def _run(self, x, tracer):
        call = FieldTracer.call
        out = call(tracer, "relu", self.relu,
                   call(tracer, "bn1", self.bn1, call(tracer, "conv1", self.conv1, x)))
        out = call(tracer, "relu", self.relu,
                   call(tracer, "bn2", self.bn2, call(tracer, "conv2", self.conv2, out)))
        out = call(tracer, "bn3", self.bn3, call(tracer, "conv3", self.conv3, out))
        return call(tracer, "relu", self.relu, out + _shortcut(self.downsample, x))

    def forward(self, x):
        return self._run(x, None)

    def trace_field(self, tracer, x):
        return self._run(x, tracer)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, in_channels=3,
                 stem="imagenet"):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"resnet: unknown stem '{stem}' (available: imagenet, cifar)")
        if len(layers) != 4:
            raise ValueError(f"ResNet: expected the block counts of 4 layers, got {len(layers)}")
        self.inplanes = 64
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3,
                                   bias=False)
        else:
            self.conv1 = conv3x3(in_channels, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        if stem == "imagenet":
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def _run(self, x, tracer):
        call = FieldTracer.call
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                     "avgpool"):
            x = call(tracer, name, getattr(self, name), x)
        return call(tracer, "fc", self.fc, flatten(x, 1))

    def forward(self, x):
        return self._run(x, None)

    def trace_field(self, tracer, x):
        return self._run(x, tracer)


def resnet18(**kwargs):
    """BasicBlock [2, 2, 2, 2]; kwargs: num_classes, zero_init_residual, in_channels, stem."""
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


def resnet34(**kwargs):
    return ResNet(BasicBlock, [3, 4, 6, 3], **kwargs)


def resnet50(**kwargs):
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)


def resnet(depth, **kwargs):
    """resnet18 / resnet34 / resnet50 by depth."""
    builders = {18: resnet18, 34: resnet34, 50: resnet50}
    if depth not in builders:
        raise ValueError(f"resnet: unknown depth {depth} (available: 18, 34, 50)")
    return builders[depth](**kwargs)
