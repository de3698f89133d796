// The activations and dropout of include/kiln/ops.h as kiln.<name>, with the argument names of
// torch.nn.functional (torch keeps them there; kiln.nn.functional builds on the same C++ ops).
// relu, sigmoid and tanh are plain unary ops (ops_math.cpp), as in torch.
#include "op_binding.h"

namespace kiln::python {

void bind_ops_activation(nb::module_& m) {
  m.def("leaky_relu", &leaky_relu, "input"_a, "negative_slope"_a = 0.01);
  m.def("elu", &elu, "input"_a, "alpha"_a = 1.0);
  m.def("gelu", &gelu, "input"_a, nb::kw_only(), "approximate"_a = "none");
  m.def("silu", &silu, "input"_a);
  m.def("softplus", &softplus, "input"_a, "beta"_a = 1.0, "threshold"_a = 20.0);
  // torch.dropout(input, p, train): every argument required, as in torch.
  m.def("dropout", &dropout, "input"_a, "p"_a, "train"_a);
}

}  // namespace kiln::python
