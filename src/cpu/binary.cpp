// Binary elementwise kernels and where(). Inputs arrive broadcast to the output's shape and in
// the compute dtype; comparisons and logical ops write bool.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/map.h"

namespace kiln::cpu {
namespace {

// Integer add/sub/mul wrap around on overflow (two's complement), like PyTorch; done in unsigned
// arithmetic because signed overflow is undefined behaviour in C++.
template <class A>
A wrapping(A x, A y, char op) {
  using U = std::make_unsigned_t<A>;
  U r = op == '+' ? U(x) + U(y) : op == '-' ? U(x) - U(y) : U(U(x) * U(y));
  return A(r);
}

// Python's floor division for floats (PyTorch's div_floor_floating): derived from fmod so that
// floor_divide and remainder agree (a == b * floor_divide(a, b) + remainder(a, b)).
template <class A>
A floor_div_float(A a, A b) {
  if (b == 0) return a / b;
  A mod = std::fmod(a, b);
  A div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
  if (div == 0) return std::copysign(A(0), a / b);
  A floordiv = std::floor(div);
  if (div - floordiv > A(0.5)) floordiv += 1;
  return floordiv;
}

template <class A>
A int_pow(A base, A exp) {  // exp >= 0, checked by the op
  A result = 1;
  while (exp > 0) {
    if (exp & 1) result = wrapping(result, base, '*');
    base = wrapping(base, base, '*');
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
      return run([](A x, A y) {
        if constexpr (std::is_integral_v<A>)
          return wrapping(x, y, '+');
        else
          return x + y;
      });
    case OpId::Sub:
      return run([](A x, A y) {
        if constexpr (std::is_integral_v<A>)
          return wrapping(x, y, '-');
        else
          return x - y;
      });
    case OpId::Mul:
      return run([](A x, A y) {
        if constexpr (std::is_integral_v<A>)
          return wrapping(x, y, '*');
        else
          return x * y;
      });
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
          return floor_div_float(x, y);
        } else {
          if (y == -1) return wrapping(A(0), x, '-');  // INT64_MIN / -1 would trap
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
          if (y == -1) return A(0);  // INT64_MIN % -1 would trap
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
