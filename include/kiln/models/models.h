#pragma once
// kiln::models: the model zoo (torchvision's names where torchvision has the model).
#include "kiln/models/lenet.h"
#include "kiln/models/resnet.h"
#include "kiln/models/unet.h"
#include "kiln/models/vgg.h"
