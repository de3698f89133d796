"""kiln.models: the model zoo, written with kiln.nn, with torchvision's module and parameter
names where torchvision has the model (a torchvision state_dict loads as is). The same networks
exist in C++ (include/kiln/models/) with the same names and shapes.

    LeNet5(num_classes=10, in_channels=1)                              1x28x28 inputs
    VGG / vgg(config, batch_norm, ...), vgg11/13/16/19 and *_bn        torchvision's layout
    ResNet, resnet18 / resnet34 / resnet50(num_classes, in_channels, stem="imagenet"|"cifar",
                                           zero_init_residual)
    UNet(in_channels, num_classes, base_channels, depth, bilinear, batch_norm)

Every model defines trace_field(tracer, x) for kiln.utils.receptive_field."""
from .lenet import LeNet5
from .resnet import BasicBlock, Bottleneck, ResNet, resnet, resnet18, resnet34, resnet50
from .unet import UNet, double_conv
from .vgg import (VGG, cfgs, make_layers, vgg, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16,
                  vgg16_bn, vgg19, vgg19_bn)

__all__ = ["LeNet5", "BasicBlock", "Bottleneck", "ResNet", "resnet", "resnet18", "resnet34",
           "resnet50", "UNet", "double_conv", "VGG", "cfgs", "make_layers", "vgg", "vgg11",
           "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]
