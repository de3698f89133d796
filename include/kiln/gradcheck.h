#pragma once
// Numerical gradient checks: compare the analytic Jacobian (from backward) with central
// finite differences, in float64.
#include <string>
#include <vector>

#include "kiln/autograd.h"

namespace kiln {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  bool check_second_order = false;  // also gradcheck the backward itself (gradgradcheck)
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // on failure: which input, which element, analytic vs numerical
  explicit operator bool() const { return ok; }
};

// Inputs that require grad are checked; they must be float64.
GradcheckResult gradcheck(const autograd::Function& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

// Finite-difference Jacobian of f's outputs (concatenated, flattened) w.r.t. input `in`,
// shape [numel(outputs), numel(input)].
Tensor numerical_jacobian(const autograd::Function& f, const std::vector<Tensor>& inputs, size_t in,
                          double eps = 1e-6);

}  // namespace kiln
