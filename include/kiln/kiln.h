#pragma once
// Kiln: the umbrella header.
#include "kiln/autograd.h"
#include "kiln/device.h"
#include "kiln/dtype.h"
#include "kiln/error.h"
#include "kiln/gradcheck.h"
#include "kiln/log.h"
#include "kiln/ops.h"
#include "kiln/random.h"
#include "kiln/scalar.h"
#include "kiln/shape.h"
#include "kiln/tensor.h"
