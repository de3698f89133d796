// Unary elementwise kernels (math and activations). The op layer has already promoted integer
// inputs for the ops that need floating point, so floating ops only see floating dtypes.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/map.h"

namespace kiln::cpu {
namespace {

template <class T>
void floating_unary(OpId op, const Tensor& x, const Tensor& out, const OpParams& p) {
  using A = acc_t<T>;
  auto run = [&](auto f) { map1<T, T, A>(x, out, f); };
  const A a = A(p.a), b = A(p.b);
  switch (op) {
    case OpId::Neg:
      return run([](A v) { return -v; });
    case OpId::Exp:
      return run([](A v) { return std::exp(v); });
    case OpId::Log:
      return run([](A v) { return std::log(v); });
    case OpId::Log1p:
      return run([](A v) { return std::log1p(v); });
    case OpId::Expm1:
      return run([](A v) { return std::expm1(v); });
    case OpId::Sqrt:
      return run([](A v) { return std::sqrt(v); });
    case OpId::Rsqrt:
      return run([](A v) { return A(1) / std::sqrt(v); });
    case OpId::Abs:
      return run([](A v) { return std::abs(v); });
    case OpId::Sign:
      return run([](A v) { return A((A(0) < v) - (v < A(0))); });
    case OpId::Sin:
      return run([](A v) { return std::sin(v); });
    case OpId::Cos:
      return run([](A v) { return std::cos(v); });
    case OpId::Erf:
      return run([](A v) { return std::erf(v); });
    case OpId::Reciprocal:
      return run([](A v) { return A(1) / v; });
    case OpId::Square:
      return run([](A v) { return v * v; });
    case OpId::Floor:
      return run([](A v) { return std::floor(v); });
    case OpId::Ceil:
      return run([](A v) { return std::ceil(v); });
    case OpId::Round:
      return run([](A v) { return std::nearbyint(v); });  // half to even
    case OpId::PowScalar:
      return run([a](A v) { return std::pow(v, a); });
    case OpId::RPowScalar:
      return run([a](A v) { return std::pow(a, v); });
    case OpId::Clamp: {
      const bool lo = p.has_a, hi = p.has_b;
      return run([=](A v) {
        if (std::isnan(v)) return v;
        if (lo && v < a) v = a;
        if (hi && v > b) v = b;
        return v;
      });
    }
    case OpId::Relu:
      return run([](A v) { return v > A(0) ? v : (std::isnan(v) ? v : A(0)); });
    case OpId::LeakyRelu:
      return run([a](A v) { return v > A(0) ? v : v * a; });
    case OpId::Elu:
      return run([a](A v) { return v > A(0) ? v : a * std::expm1(v); });
    case OpId::Sigmoid:
      return run([](A v) { return A(1) / (A(1) + std::exp(-v)); });
    case OpId::Tanh:
      return run([](A v) { return std::tanh(v); });
    case OpId::Gelu:
      if (p.mode == 1) {
        const A k = A(0.7978845608028654), c = A(0.044715);  // sqrt(2/pi)
        return run([=](A v) { return A(0.5) * v * (A(1) + std::tanh(k * (v + c * v * v * v))); });
      }
      return run([](A v) { return A(0.5) * v * (A(1) + std::erf(v * A(0.7071067811865476))); });
    case OpId::Silu:
      return run([](A v) { return v / (A(1) + std::exp(-v)); });
    case OpId::Softplus:  // a = beta, b = threshold: linear above threshold, like PyTorch
      return run([=](A v) { return v * a > b ? v : std::log1p(std::exp(v * a)) / a; });
    default:
      throw Error(detail::concat(op_name(op), ": no CPU floating kernel"));
  }
}

template <class T>
void integral_unary(OpId op, const Tensor& x, const Tensor& out, const OpParams& p) {
  using A = int64_t;
  auto run = [&](auto f) { map1<T, T, A>(x, out, f); };
  switch (op) {
    // Negation and squaring wrap around like PyTorch's (-INT64_MIN == INT64_MIN), computed in
    // unsigned arithmetic because signed overflow is undefined behaviour in C++.
    case OpId::Neg:
      return run([](A v) { return A(0 - uint64_t(v)); });
    case OpId::Abs:
      return run([](A v) { return v < 0 ? A(0 - uint64_t(v)) : v; });
    case OpId::Sign:
      return run([](A v) { return A((0 < v) - (v < 0)); });
    case OpId::Square:
      return run([](A v) { return A(uint64_t(v) * uint64_t(v)); });
    case OpId::Floor:
    case OpId::Ceil:
    case OpId::Round:
      return run([](A v) { return v; });
    case OpId::Relu:
      return run([](A v) { return v > 0 ? v : A(0); });
    case OpId::Clamp: {
      const bool lo = p.has_a, hi = p.has_b;
      const A a = A(std::ceil(p.a)), b = A(std::floor(p.b));
      return run([=](A v) { return lo && v < a ? a : hi && v > b ? b : v; });
    }
    default:
      throw TypeError(detail::concat(op_name(op), ": not implemented for ", dtype_name(x.dtype())));
  }
}

// Ops with a bool result for any input dtype.
template <class T>
void predicate_unary(OpId op, const Tensor& x, const Tensor& out) {
  using A = acc_t<T>;
  switch (op) {
    case OpId::LogicalNot:
      return map1<T, bool, A>(x, out, [](A v) { return v == A(0); });
    case OpId::IsNan:
      return map1<T, bool, A>(x, out, [](A v) {
        if constexpr (std::is_floating_point_v<A>)
          return std::isnan(v);
        else
          return false;
      });
    case OpId::IsFinite:
      return map1<T, bool, A>(x, out, [](A v) {
        if constexpr (std::is_floating_point_v<A>)
          return std::isfinite(v);
        else
          return true;
      });
    default:
      throw Error(detail::concat(op_name(op), ": not a predicate"));
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
      throw TypeError(detail::concat(op_name(op), ": not implemented for bool"));
    } else {
      integral_unary<T>(op, x, out, p);
    }
  });
}

}  // namespace kiln::cpu
