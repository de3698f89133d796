// kiln.autograd.gradcheck's numerical core: the C++ finite-difference check of
// include/kiln/gradcheck.h run on a Python function. kiln/autograd/gradcheck.py prepares the
// function (tensor arguments in, a list of tensors out) and turns a failure into GradcheckError.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "kiln/gradcheck.h"

namespace kiln::python {

void bind_autograd_gradcheck(nb::module_& m) {
  m.def(
      "_gradcheck",
      [](nb::callable fn, const std::vector<Tensor>& inputs, double eps, double atol, double rtol) {
        autograd::Function f = [&fn](const std::vector<Tensor>& xs) {
          nb::list args;
          for (const Tensor& x : xs) args.append(nb::cast(x));
          nb::object out = fn(*nb::tuple(args));
          std::vector<Tensor> ys;
          for (nb::handle y : out) ys.push_back(nb::cast<Tensor>(y));
          return ys;
        };
        GradcheckOptions options;
        options.eps = eps;
        options.atol = atol;
        options.rtol = rtol;
        GradcheckResult r = gradcheck(f, inputs, options);
        return nb::make_tuple(r.ok, r.message);
      },
      "func"_a, "inputs"_a, "eps"_a, "atol"_a, "rtol"_a,
      "Compares the analytic Jacobian of func(*inputs) -> [tensors] with central finite "
      "differences; returns (ok, message).");
}

}  // namespace kiln::python
