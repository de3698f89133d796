#pragma once
// The parts of kiln._C._nn, the C++ side of kiln.nn (functional ops, losses, init, gradient
// clipping). bind_nn (nn_functional.cpp) creates the submodule and calls each of them; Python
// wrappers in kiln/nn add torch's legacy arguments and in-place variants around these.
#include "bindings.h"

namespace kiln::python {

void bind_nn_losses(nb::module_& nn);     // nn_loss.cpp
void bind_nn_init(nb::module_& nn);       // nn_init.cpp
void bind_nn_clip_grad(nb::module_& nn);  // nn_clip_grad.cpp

}  // namespace kiln::python
