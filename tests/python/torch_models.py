"""PyTorch reference definitions of the model zoo (torchvision is not installed here): ResNet and
VGG transcribed from torchvision 0.14 (the release that goes with torch 1.13; ReLU without
inplace so that reprs compare, which changes no value), plus the CIFAR stem, LeNet-5 and the
U-Net as kiln.models defines them. tests/python/test_models.py holds kiln.models to these."""
from collections import OrderedDict

import torch
from torch import nn


# ---------------- torchvision.models.resnet ----------------

def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


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

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


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

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, stem="imagenet"):
        super().__init__()
        self.inplanes = 64
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        else:  # the CIFAR stem
            self.conv1 = conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = (nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem == "imagenet"
                        else nn.Identity())
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

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

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


RESNETS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
           50: (Bottleneck, [3, 4, 6, 3])}


def resnet(depth, **kwargs):
    block, layers = RESNETS[depth]
    return ResNet(block, layers, **kwargs)


# ---------------- torchvision.models.vgg (pool size and width as options) ----------------

def make_layers(cfg, batch_norm=False, in_channels=3):
    layers = []
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            if batch_norm:
                layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU()]
            else:
                layers += [conv2d, nn.ReLU()]
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, features, num_classes=1000, dropout=0.5, pool_size=7, hidden=4096,
                 last_channels=512):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(last_channels * pool_size * pool_size, hidden), nn.ReLU(),
            nn.Dropout(p=dropout), nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# ---------------- LeNet-5 and the U-Net of kiln.models ----------------

class LeNet5(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = self.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc3(self.relu(self.fc2(x)))


def double_conv(cin, cout, batch_norm=True):
    layers = []
    for c in (cin, cout):
        layers.append(nn.Conv2d(c, cout, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class UNet(nn.Module):
    def __init__(self, in_channels=3, num_classes=2, base_channels=16, depth=3, bilinear=False,
                 batch_norm=True):
        super().__init__()
        self.depth = depth
        self.inc = double_conv(in_channels, base_channels, batch_norm)
        c = base_channels
        for i in range(1, depth + 1):
            setattr(self, f"down{i}",
                    nn.Sequential(nn.MaxPool2d(2), double_conv(c, 2 * c, batch_norm)))
            c *= 2
        for i in range(1, depth + 1):
            if bilinear:
                up = nn.Sequential(OrderedDict([
                    ("0", nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)),
                    ("1", nn.Conv2d(c, c // 2, 1))]))
            else:
                up = nn.ConvTranspose2d(c, c // 2, 2, stride=2)
            setattr(self, f"up{i}", up)
            setattr(self, f"dec{i}", double_conv(c, c // 2, batch_norm))
            c //= 2
        self.outc = nn.Conv2d(base_channels, num_classes, 1)

    def forward(self, x):
        skips = []
        h = self.inc(x)
        for i in range(1, self.depth + 1):
            skips.append(h)
            h = getattr(self, f"down{i}")(h)
        for i in range(1, self.depth + 1):
            h = getattr(self, f"up{i}")(h)
            h = getattr(self, f"dec{i}")(torch.cat([skips[-i], h], 1))
        return self.outc(h)
