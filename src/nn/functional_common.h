#pragma once
// Argument checks shared by the loss and distance functions (src/nn/functional_*.cpp).
#include <initializer_list>
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

// One argument of a loss: its name, and whether it must be floating point.
struct Arg {
  const Tensor& tensor;
  const char* name;
  bool floating;
};

// Every argument defined, the floating ones floating point; errors name the argument.
inline void check_args(const char* fn, std::initializer_list<Arg> args) {
  for (const Arg& a : args) check_defined(fn, a.tensor, a.name);
  for (const Arg& a : args)
    if (a.floating) check_floating(fn, a.tensor, a.name);
}

}  // namespace kiln::nn::functional::detail
