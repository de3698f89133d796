#pragma once
// Shared declarations of kiln._C._optim: the optimizers (optim_optimizer.cpp) and the
// learning-rate schedulers (optim_lr_scheduler.cpp). The Python classes in kiln/optim wrap these
// with torch's signatures; everything here speaks the C++ names ("beta1", not "betas").
#include "bindings.h"

namespace kiln::python {

void bind_optimizers(nb::module_& m);
void bind_lr_schedulers(nb::module_& m);

// A StateDict's metadata as a Python dict of strings, and back (the schedulers' state dicts are
// metadata only; the Python side turns the strings into torch-shaped values).
nb::dict metadata_to_python(const StateDict& sd);
StateDict metadata_from_python(const nb::dict& meta);

}  // namespace kiln::python
