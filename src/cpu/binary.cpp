// Binary elementwise kernels and where(). Inputs arrive broadcast to the output's shape and in
// the compute dtype; comparisons and logical ops write bool.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/map.h"

namespace kiln::cpu {
namespace {

template <class A>
A int_pow(A base, A exp) {  // exp >= 0, checked by the op
  A result = 1;
  while (exp > 0) {
    if (exp & 1) result *= base;
    base *= base;
    exp >>= 1;
  }
  return result;
}

template <class T>
void arithmetic(OpId op, const Tensor& a, const Tensor& b, const Tensor& out) {
  using A = std::conditional_t<is_float_type_v<T>, acc_t<T>, int64_t>;
  auto run = [&](auto f) { map2<T, T, A>(a, b, out, f); };
  switch (op) {
    case OpId::Add:
      return run([](A x, A y) { return x + y; });
    case OpId::Sub:
      return run([](A x, A y) { return x - y; });
    case OpId::Mul:
      return run([](A x, A y) { return x * y; });
    case OpId::Div:
      return run([](A x, A y) { return x / y; });  // floating only (op promotes)
    case OpId::Minimum:
      return run([](A x, A y) {
        if constexpr (std::is_floating_point_v<A>) {
          if (std::isnan(x) || std::isnan(y)) return x + y;  // NaN propagates
        }
        return x < y ? x : y;
      });
    case OpId::Maximum:
      return run([](A x, A y) {
        if constexpr (std::is_floating_point_v<A>) {
          if (std::isnan(x) || std::isnan(y)) return x + y;
        }
        return x > y ? x : y;
      });
    case OpId::Pow:
      return run([](A x, A y) {
        if constexpr (std::is_floating_point_v<A>)
          return A(std::pow(x, y));
        else
          return int_pow(x, y);
      });
    case OpId::FloorDivide:
      return run([](A x, A y) {
        if constexpr (std::is_floating_point_v<A>) {
          return std::floor(x / y);
        } else {
          A q = x / y;
          return (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q;
        }
      });
    case OpId::Remainder:
      return run([](A x, A y) {
        if constexpr (std::is_floating_point_v<A>) {
          A r = std::fmod(x, y);
          return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
        } else {
          A r = x % y;
          return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
        }
      });
    default:
      throw Error(detail::concat(op_name(op), ": not an arithmetic op"));
  }
}

template <class T>
void comparison(OpId op, const Tensor& a, const Tensor& b, const Tensor& out) {
  using A = std::conditional_t<std::is_same_v<T, bool>, bool, acc_t<T>>;
  auto run = [&](auto f) { map2<T, bool, A>(a, b, out, f); };
  switch (op) {
    case OpId::Eq:
      return run([](A x, A y) { return x == y; });
    case OpId::Ne:
      return run([](A x, A y) { return x != y; });
    case OpId::Lt:
      return run([](A x, A y) { return x < y; });
    case OpId::Le:
      return run([](A x, A y) { return x <= y; });
    case OpId::Gt:
      return run([](A x, A y) { return x > y; });
    case OpId::Ge:
      return run([](A x, A y) { return x >= y; });
    case OpId::LogicalAnd:
      return run([](A x, A y) { return x != A(0) && y != A(0); });
    case OpId::LogicalOr:
      return run([](A x, A y) { return x != A(0) || y != A(0); });
    default:
      throw Error(detail::concat(op_name(op), ": not a comparison"));
  }
}

bool is_comparison(OpId op) {
  switch (op) {
    case OpId::Eq:
    case OpId::Ne:
    case OpId::Lt:
    case OpId::Le:
    case OpId::Gt:
    case OpId::Ge:
    case OpId::LogicalAnd:
    case OpId::LogicalOr:
      return true;
    default:
      return false;
  }
}

}  // namespace

void binary(OpId op, const Tensor& a, const Tensor& b, const Tensor& out) {
  if (is_comparison(op)) {
    dispatch_all(a.dtype(), [&]<class T>() { comparison<T>(op, a, b, out); });
    return;
  }
  dispatch_numeric(a.dtype(), op_name(op), [&]<class T>() { arithmetic<T>(op, a, b, out); });
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_all(a.dtype(), [&]<class T>() {
    for_each_strided<4>({&out, &cond, &a, &b},
                        [](std::array<char*, 4> p, std::array<int64_t, 4> s, int64_t n) {
                          for (int64_t i = 0; i < n; ++i) {
                            bool c = *reinterpret_cast<const bool*>(p[1] + i * s[1]);
                            *reinterpret_cast<T*>(p[0] + i * s[0]) =
                                *reinterpret_cast<const T*>(p[c ? 2 : 3] + i * s[c ? 2 : 3]);
                          }
                        });
  });
}

}  // namespace kiln::cpu
