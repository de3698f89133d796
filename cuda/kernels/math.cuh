#pragma once
// Device math in the precision of the argument, the way the CPU reference calls std::exp on a
// float (expf) or a double (exp): kernels are written once for A = float or double and these
// pick the matching CUDA function explicitly, so no call silently widens to double.
#include <cuda_runtime.h>

#include <type_traits>

namespace kiln::cuda::math {

#define KILN_MATH_UNARY(name)                                                    \
  template <class A>                                                             \
  __device__ __forceinline__ A name(A v) {                                       \
    static_assert(std::is_floating_point_v<A>, "math::" #name ": float/double"); \
    if constexpr (std::is_same_v<A, float>)                                      \
      return ::name##f(v);                                                       \
    else                                                                         \
      return ::name(v);                                                          \
  }

KILN_MATH_UNARY(exp)
KILN_MATH_UNARY(log)
KILN_MATH_UNARY(log1p)
KILN_MATH_UNARY(expm1)
KILN_MATH_UNARY(sqrt)
KILN_MATH_UNARY(fabs)
KILN_MATH_UNARY(sin)
KILN_MATH_UNARY(cos)
KILN_MATH_UNARY(erf)
KILN_MATH_UNARY(floor)
KILN_MATH_UNARY(ceil)
KILN_MATH_UNARY(rint)
KILN_MATH_UNARY(tanh)
#undef KILN_MATH_UNARY

#define KILN_MATH_BINARY(name)                                                   \
  template <class A>                                                             \
  __device__ __forceinline__ A name(A x, A y) {                                  \
    static_assert(std::is_floating_point_v<A>, "math::" #name ": float/double"); \
    if constexpr (std::is_same_v<A, float>)                                      \
      return ::name##f(x, y);                                                    \
    else                                                                         \
      return ::name(x, y);                                                       \
  }

KILN_MATH_BINARY(pow)
KILN_MATH_BINARY(fmod)
KILN_MATH_BINARY(copysign)
#undef KILN_MATH_BINARY

// A product and a sum rounded separately, never fused into one fma: nvcc contracts a * b + c
// by default, the CPU reference (x86-64 without FMA) rounds twice, and bit-identical results
// (arange, gelu's tanh form) need the CPU's rounding points.
template <class A>
__device__ __forceinline__ A mul_rn(A x, A y) {
  if constexpr (std::is_same_v<A, float>)
    return __fmul_rn(x, y);
  else
    return __dmul_rn(x, y);
}
template <class A>
__device__ __forceinline__ A add_rn(A x, A y) {
  if constexpr (std::is_same_v<A, float>)
    return __fadd_rn(x, y);
  else
    return __dadd_rn(x, y);
}

}  // namespace kiln::cuda::math
