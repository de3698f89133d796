#pragma once
// Argument checks shared by the loss and distance functions (src/nn/functional_*.cpp).
#include <string>

#include "kiln/error.h"
#include "kiln/shape.h"
#include "kiln/tensor.h"

namespace kiln::nn::functional::detail {

// "[4, 3] float32" (plus the device when it is not the CPU).
inline std::string describe(const Tensor& t) {
  std::string s = shape_str(t.shape()) + " " + dtype_name(t.dtype());
  if (!t.device().is_cpu()) s += " on " + t.device().str();
  return s;
}

inline void check_defined(const char* fn, const Tensor& t, const char* what) {
  KILN_CHECK_VALUE(t.defined(), fn, ": ", what, " is an undefined tensor");
}

inline void check_floating(const char* fn, const Tensor& t, const char* what) {
  KILN_CHECK_TYPE(t.is_floating_point(), fn, ": expected a floating point ", what, ", got ",
                  describe(t));
}

}  // namespace kiln::nn::functional::detail
