#pragma once
// kiln::data: datasets, the loader, transforms and readers for common image datasets.
#include "kiln/data/cifar.h"
#include "kiln/data/dataloader.h"
#include "kiln/data/dataset.h"
#include "kiln/data/distributed_sampler.h"
#include "kiln/data/mnist.h"
#include "kiln/data/sampler.h"
#include "kiln/data/synthetic.h"
#include "kiln/data/transforms.h"
