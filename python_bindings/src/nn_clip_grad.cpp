// kiln::optim::clip_grad_norm_ / clip_grad_value_ for kiln.nn.utils. The parameters arrive as
// a list (kiln/nn/utils/clip_grad.py accepts a single tensor or any iterable, like torch).
#include "nn_bindings.h"

namespace kiln::python {

void bind_nn_clip_grad(nb::module_& nn) {
  nn.def("clip_grad_norm_", &optim::clip_grad_norm_, "parameters"_a, "max_norm"_a,
         "norm_type"_a = 2.0, "error_if_nonfinite"_a = false);
  nn.def("clip_grad_value_", &optim::clip_grad_value_, "parameters"_a, "clip_value"_a);
}

}  // namespace kiln::python
