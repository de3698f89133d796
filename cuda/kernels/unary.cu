// Unary elementwise kernels (math and activations), mirroring src/cpu/unary.cpp formula by
// formula: the same arithmetic type (float for float32/16/bf16, double for float64, int64 for
// integers), the same operation order and the same dtype coverage and errors. Float math calls
// the single-precision functions (expf, not exp) exactly where the CPU's std:: overloads do.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/elementwise.cuh"
#include "kernels/kernels.h"
#include "kernels/math.cuh"

namespace kiln::cuda {
namespace {

// ---- floating ops (A is float or double) ----
template <class A>
struct Neg {
  __device__ A operator()(A v) const { return -v; }
};
template <class A>
struct Exp {
  __device__ A operator()(A v) const { return math::exp(v); }
};
template <class A>
struct Log {
  __device__ A operator()(A v) const { return math::log(v); }
};
template <class A>
struct Log1p {
  __device__ A operator()(A v) const { return math::log1p(v); }
};
template <class A>
struct Expm1 {
  __device__ A operator()(A v) const { return math::expm1(v); }
};
template <class A>
struct Sqrt {
  __device__ A operator()(A v) const { return math::sqrt(v); }
};
template <class A>
struct Rsqrt {
  __device__ A operator()(A v) const { return A(1) / math::sqrt(v); }
};
template <class A>
struct Abs {
  __device__ A operator()(A v) const { return math::fabs(v); }
};
template <class A>
struct Sign {
  __device__ A operator()(A v) const { return A(int(A(0) < v) - int(v < A(0))); }
};
template <class A>
struct Sin {
  __device__ A operator()(A v) const { return math::sin(v); }
};
template <class A>
struct Cos {
  __device__ A operator()(A v) const { return math::cos(v); }
};
template <class A>
struct Erf {
  __device__ A operator()(A v) const { return math::erf(v); }
};
template <class A>
struct Reciprocal {
  __device__ A operator()(A v) const { return A(1) / v; }
};
template <class A>
struct Square {
  __device__ A operator()(A v) const { return v * v; }
};
template <class A>
struct Floor {
  __device__ A operator()(A v) const { return math::floor(v); }
};
template <class A>
struct Ceil {
  __device__ A operator()(A v) const { return math::ceil(v); }
};
template <class A>
struct Round {  // half to even, as std::nearbyint in the default rounding mode
  __device__ A operator()(A v) const { return math::rint(v); }
};
template <class A>
struct PowScalar {
  A a;
  __device__ A operator()(A v) const { return math::pow(v, a); }
};
template <class A>
struct RPowScalar {
  A a;
  __device__ A operator()(A v) const { return math::pow(a, v); }
};
template <class A>
struct Clamp {
  A a, b;
  bool lo, hi;
  __device__ A operator()(A v) const {
    if (isnan(v)) return v;
    if (lo && v < a) v = a;
    if (hi && v > b) v = b;
    return v;
  }
};
template <class A>
struct Relu {
  __device__ A operator()(A v) const { return v > A(0) ? v : (isnan(v) ? v : A(0)); }
};
template <class A>
struct LeakyRelu {
  A a;
  __device__ A operator()(A v) const { return v > A(0) ? v : v * a; }
};
template <class A>
struct Elu {
  A a;
  __device__ A operator()(A v) const { return v > A(0) ? v : a * math::expm1(v); }
};
template <class A>
struct Sigmoid {
  __device__ A operator()(A v) const { return A(1) / (A(1) + math::exp(-v)); }
};
template <class A>
struct Tanh {
  __device__ A operator()(A v) const { return math::tanh(v); }
};
template <class A>
struct GeluErf {
  __device__ A operator()(A v) const {
    return A(0.5) * v * (A(1) + math::erf(v * A(0.7071067811865476)));
  }
};
template <class A>
struct GeluTanh {
  // v + c * v^3 is where nvcc would fuse a multiply-add; the CPU rounds the product first.
  __device__ A operator()(A v) const {
    const A k = A(0.7978845608028654), c = A(0.044715);  // sqrt(2/pi)
    const A inner = math::add_rn(v, math::mul_rn(math::mul_rn(math::mul_rn(c, v), v), v));
    return A(0.5) * v * (A(1) + math::tanh(k * inner));
  }
};
template <class A>
struct Silu {
  __device__ A operator()(A v) const { return v / (A(1) + math::exp(-v)); }
};
template <class A>
struct Softplus {  // a = beta, b = threshold: linear above the threshold, like PyTorch
  A a, b;
  __device__ A operator()(A v) const { return v * a > b ? v : math::log1p(math::exp(v * a)) / a; }
};

template <class T>
void floating_unary(OpId op, const Tensor& x, const Tensor& out, const OpParams& p) {
  using A = acc_t<T>;
  const char* name = op_name(op);
  auto run = [&](auto f) { map1<T, T, A>(name, x, out, f); };
  // Converted on the host, as the CPU converts them before its loop.
  const A a = A(p.a), b = A(p.b);
  switch (op) {
    case OpId::Neg:
      return run(Neg<A>{});
    case OpId::Exp:
      return run(Exp<A>{});
    case OpId::Log:
      return run(Log<A>{});
    case OpId::Log1p:
      return run(Log1p<A>{});
    case OpId::Expm1:
      return run(Expm1<A>{});
    case OpId::Sqrt:
      return run(Sqrt<A>{});
    case OpId::Rsqrt:
      return run(Rsqrt<A>{});
    case OpId::Abs:
      return run(Abs<A>{});
    case OpId::Sign:
      return run(Sign<A>{});
    case OpId::Sin:
      return run(Sin<A>{});
    case OpId::Cos:
      return run(Cos<A>{});
    case OpId::Erf:
      return run(Erf<A>{});
    case OpId::Reciprocal:
      return run(Reciprocal<A>{});
    case OpId::Square:
      return run(Square<A>{});
    case OpId::Floor:
      return run(Floor<A>{});
    case OpId::Ceil:
      return run(Ceil<A>{});
    case OpId::Round:
      return run(Round<A>{});
    case OpId::PowScalar:
      return run(PowScalar<A>{a});
    case OpId::RPowScalar:
      return run(RPowScalar<A>{a});
    case OpId::Clamp:
      return run(Clamp<A>{a, b, p.has_a, p.has_b});
    case OpId::Relu:
      return run(Relu<A>{});
    case OpId::LeakyRelu:
      return run(LeakyRelu<A>{a});
    case OpId::Elu:
      return run(Elu<A>{a});
    case OpId::Sigmoid:
      return run(Sigmoid<A>{});
    case OpId::Tanh:
      return run(Tanh<A>{});
    case OpId::Gelu:
      if (p.mode == 1) return run(GeluTanh<A>{});
      return run(GeluErf<A>{});
    case OpId::Silu:
      return run(Silu<A>{});
    case OpId::Softplus:
      return run(Softplus<A>{a, b});
    default:
      throw Error(::kiln::detail::concat(name, ": no CUDA floating kernel"));
  }
}

// ---- integer ops (computed in int64; wrap-around in unsigned arithmetic, which is defined) ----
struct IntNeg {
  __device__ int64_t operator()(int64_t v) const { return int64_t(0ull - uint64_t(v)); }
};
struct IntAbs {
  __device__ int64_t operator()(int64_t v) const { return v < 0 ? int64_t(0ull - uint64_t(v)) : v; }
};
struct IntSign {
  __device__ int64_t operator()(int64_t v) const { return int64_t(int(0 < v) - int(v < 0)); }
};
struct IntSquare {
  __device__ int64_t operator()(int64_t v) const { return int64_t(uint64_t(v) * uint64_t(v)); }
};
struct IntIdentity {  // floor / ceil / round of an integer
  __device__ int64_t operator()(int64_t v) const { return v; }
};
struct IntRelu {
  __device__ int64_t operator()(int64_t v) const { return v > 0 ? v : int64_t(0); }
};
struct IntClamp {
  int64_t a, b;
  bool lo, hi;
  __device__ int64_t operator()(int64_t v) const { return lo && v < a ? a : hi && v > b ? b : v; }
};

template <class T>
void integral_unary(OpId op, const Tensor& x, const Tensor& out, const OpParams& p) {
  using A = int64_t;
  const char* name = op_name(op);
  auto run = [&](auto f) { map1<T, T, A>(name, x, out, f); };
  switch (op) {
    case OpId::Neg:
      return run(IntNeg{});
    case OpId::Abs:
      return run(IntAbs{});
    case OpId::Sign:
      return run(IntSign{});
    case OpId::Square:
      return run(IntSquare{});
    case OpId::Floor:
    case OpId::Ceil:
    case OpId::Round:
      return run(IntIdentity{});
    case OpId::Relu:
      return run(IntRelu{});
    case OpId::Clamp:
      // Integer bounds as the CPU computes them: the smallest/largest integer inside.
      return run(IntClamp{A(std::ceil(p.a)), A(std::floor(p.b)), p.has_a, p.has_b});
    default:
      throw TypeError(
          ::kiln::detail::concat(name, ": not implemented for ", dtype_name(x.dtype())));
  }
}

// ---- predicates: a bool result for any input dtype ----
template <class A>
struct LogicalNot {
  __device__ bool operator()(A v) const { return v == A(0); }
};
template <class A>
struct IsNan {
  __device__ bool operator()(A v) const {
    if constexpr (std::is_floating_point_v<A>)
      return isnan(v);
    else
      return false;
  }
};
template <class A>
struct IsFinite {
  __device__ bool operator()(A v) const {
    if constexpr (std::is_floating_point_v<A>)
      return isfinite(v);
    else
      return true;
  }
};

template <class T>
void predicate_unary(OpId op, const Tensor& x, const Tensor& out) {
  using A = acc_t<T>;
  const char* name = op_name(op);
  switch (op) {
    case OpId::LogicalNot:
      return map1<T, bool, A>(name, x, out, LogicalNot<A>{});
    case OpId::IsNan:
      return map1<T, bool, A>(name, x, out, IsNan<A>{});
    case OpId::IsFinite:
      return map1<T, bool, A>(name, x, out, IsFinite<A>{});
    default:
      throw Error(::kiln::detail::concat(name, ": not a predicate"));
  }
}

}  // namespace

void unary(OpId op, const Tensor& x, const Tensor& out, const OpParams& p) {
  if (op == OpId::LogicalNot || op == OpId::IsNan || op == OpId::IsFinite) {
    dispatch_all(x.dtype(), [&]<class T>() { predicate_unary<T>(op, x, out); });
    return;
  }
  dispatch_all(x.dtype(), [&]<class T>() {
    if constexpr (is_float_type_v<T>) {
      floating_unary<T>(op, x, out, p);
    } else if constexpr (std::is_same_v<T, bool>) {
      throw TypeError(::kiln::detail::concat(op_name(op), ": not implemented for bool"));
    } else {
      integral_unary<T>(op, x, out, p);
    }
  });
}

}  // namespace kiln::cuda
