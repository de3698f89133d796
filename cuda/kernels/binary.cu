// Binary elementwise kernels and where(), mirroring src/cpu/binary.cpp: inputs arrive broadcast
// to the output's shape and in the compute dtype; arithmetic runs in float (float32/16/bf16),
// double or int64 (every integer dtype); comparisons and logical ops write bool. Integer
// division by zero never reaches a kernel: the op layer refuses it for every device
// ("floor_divide: integer division by zero"); the kernels still define the result (0) rather
// than leave it to the hardware.
#include <cstdint>
#include <type_traits>

#include "kernels/elementwise.cuh"
#include "kernels/kernels.h"
#include "kernels/math.cuh"

namespace kiln::cuda {
namespace {

// Two's complement wrap-around, like PyTorch; done in unsigned arithmetic (signed overflow is
// undefined).
__device__ __forceinline__ int64_t wrap_add(int64_t x, int64_t y) {
  return int64_t(uint64_t(x) + uint64_t(y));
}
__device__ __forceinline__ int64_t wrap_sub(int64_t x, int64_t y) {
  return int64_t(uint64_t(x) - uint64_t(y));
}
__device__ __forceinline__ int64_t wrap_mul(int64_t x, int64_t y) {
  return int64_t(uint64_t(x) * uint64_t(y));
}

template <class A>
struct Add {
  __device__ A operator()(A x, A y) const {
    if constexpr (std::is_integral_v<A>)
      return wrap_add(x, y);
    else
      return x + y;
  }
};
template <class A>
struct Sub {
  __device__ A operator()(A x, A y) const {
    if constexpr (std::is_integral_v<A>)
      return wrap_sub(x, y);
    else
      return x - y;
  }
};
template <class A>
struct Mul {
  __device__ A operator()(A x, A y) const {
    if constexpr (std::is_integral_v<A>)
      return wrap_mul(x, y);
    else
      return x * y;
  }
};
template <class A>
struct Div {  // the op promotes to floating; integers only if called directly
  __device__ A operator()(A x, A y) const {
    if constexpr (std::is_integral_v<A>) {
      if (y == 0) return A(0);
      if (y == -1) return wrap_sub(0, x);  // INT64_MIN / -1 would overflow
    }
    return x / y;
  }
};
template <class A>
struct Minimum {
  __device__ A operator()(A x, A y) const {
    if constexpr (std::is_floating_point_v<A>) {
      if (isnan(x) || isnan(y)) return x + y;  // NaN propagates
    }
    return x < y ? x : y;
  }
};
template <class A>
struct Maximum {
  __device__ A operator()(A x, A y) const {
    if constexpr (std::is_floating_point_v<A>) {
      if (isnan(x) || isnan(y)) return x + y;
    }
    return x > y ? x : y;
  }
};
template <class A>
struct Pow {
  __device__ A operator()(A x, A y) const {
    if constexpr (std::is_floating_point_v<A>) {
      return math::pow(x, y);
    } else {  // y >= 0, checked by the op; square and multiply as the CPU
      A result = 1, base = x, exp = y;
      while (exp > 0) {
        if (exp & 1) result = wrap_mul(result, base);
        base = wrap_mul(base, base);
        exp >>= 1;
      }
      return result;
    }
  }
};

// Python's floor division for floats (PyTorch's div_floor_floating), derived from fmod so that
// floor_divide and remainder agree.
template <class A>
__device__ __forceinline__ A floor_div_float(A a, A b) {
  if (b == 0) return a / b;
  const A mod = math::fmod(a, b);
  A div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
  if (div == 0) return math::copysign(A(0), a / b);
  A floordiv = math::floor(div);
  if (div - floordiv > A(0.5)) floordiv += 1;
  return floordiv;
}

template <class A>
struct FloorDivide {
  __device__ A operator()(A x, A y) const {
    if constexpr (std::is_floating_point_v<A>) {
      return floor_div_float(x, y);
    } else {
      if (y == 0) return A(0);                // refused by the op
      if (y == -1) return wrap_sub(A(0), x);  // INT64_MIN / -1 would overflow
      const A q = x / y;
      return (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q;
    }
  }
};
template <class A>
struct Remainder {
  __device__ A operator()(A x, A y) const {
    if constexpr (std::is_floating_point_v<A>) {
      const A r = math::fmod(x, y);
      return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
    } else {
      if (y == 0 || y == -1) return A(0);  // 0 is refused by the op; INT64_MIN % -1 overflows
      const A r = x % y;
      return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
    }
  }
};

template <class T>
void arithmetic(OpId op, const Tensor& a, const Tensor& b, const Tensor& out) {
  using A = std::conditional_t<is_float_type_v<T>, acc_t<T>, int64_t>;
  const char* name = op_name(op);
  auto run = [&](auto f) { map2<T, T, A>(name, a, b, out, f); };
  switch (op) {
    case OpId::Add:
      return run(Add<A>{});
    case OpId::Sub:
      return run(Sub<A>{});
    case OpId::Mul:
      return run(Mul<A>{});
    case OpId::Div:
      return run(Div<A>{});
    case OpId::Minimum:
      return run(Minimum<A>{});
    case OpId::Maximum:
      return run(Maximum<A>{});
    case OpId::Pow:
      return run(Pow<A>{});
    case OpId::FloorDivide:
      return run(FloorDivide<A>{});
    case OpId::Remainder:
      return run(Remainder<A>{});
    default:
      throw Error(::kiln::detail::concat(name, ": not an arithmetic op"));
  }
}

template <class A>
struct Eq {
  __device__ bool operator()(A x, A y) const { return x == y; }
};
template <class A>
struct Ne {
  __device__ bool operator()(A x, A y) const { return x != y; }
};
template <class A>
struct Lt {
  __device__ bool operator()(A x, A y) const { return x < y; }
};
template <class A>
struct Le {
  __device__ bool operator()(A x, A y) const { return x <= y; }
};
template <class A>
struct Gt {
  __device__ bool operator()(A x, A y) const { return x > y; }
};
template <class A>
struct Ge {
  __device__ bool operator()(A x, A y) const { return x >= y; }
};
template <class A>
struct LogicalAnd {
  __device__ bool operator()(A x, A y) const { return x != A(0) && y != A(0); }
};
template <class A>
struct LogicalOr {
  __device__ bool operator()(A x, A y) const { return x != A(0) || y != A(0); }
};

template <class T>
void comparison(OpId op, const Tensor& a, const Tensor& b, const Tensor& out) {
  using A = acc_t<T>;  // bool for bool, the type itself for integers
  const char* name = op_name(op);
  auto run = [&](auto f) { map2<T, bool, A>(name, a, b, out, f); };
  switch (op) {
    case OpId::Eq:
      return run(Eq<A>{});
    case OpId::Ne:
      return run(Ne<A>{});
    case OpId::Lt:
      return run(Lt<A>{});
    case OpId::Le:
      return run(Le<A>{});
    case OpId::Gt:
      return run(Gt<A>{});
    case OpId::Ge:
      return run(Ge<A>{});
    case OpId::LogicalAnd:
      return run(LogicalAnd<A>{});
    case OpId::LogicalOr:
      return run(LogicalOr<A>{});
    default:
      throw Error(::kiln::detail::concat(name, ": not a comparison"));
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

// where() moves values without arithmetic, so it works on the bits: one kernel per element size.
template <class U>
struct WhereStrided {
  StridedIndexer<4> ix;  // operand 0: out, 1: cond, 2: a, 3: b
  U* out;
  const bool* cond;
  const U* a;
  const U* b;
  __device__ void operator()(int64_t i) const {
    int64_t o[4];
    strided_offsets(ix, i, o);
    out[o[0]] = cond[o[1]] ? a[o[2]] : b[o[3]];
  }
};

template <class U>
void launch_where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  DeviceGuard guard(device);
  launch_elementwise(
      "where", n, compute_stream(device),
      WhereStrided<U>{make_indexer<4>({&out, &cond, &a, &b}, "where"),
                      static_cast<U*>(raw_ptr(out)), static_cast<const bool*>(raw_ptr(cond)),
                      static_cast<const U*>(raw_ptr(a)), static_cast<const U*>(raw_ptr(b))});
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
  KILN_CHECK(cond.dtype() == DType::Bool, "where: the condition must be bool, got ",
             dtype_name(cond.dtype()));
  KILN_CHECK(a.dtype() == out.dtype() && b.dtype() == out.dtype(),
             "where: operands must have the output's dtype ", dtype_name(out.dtype()), ", got ",
             dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  switch (element_size(out.dtype())) {
    case 1:
      return launch_where<uint8_t>(cond, a, b, out);
    case 2:
      return launch_where<uint16_t>(cond, a, b, out);
    case 4:
      return launch_where<uint32_t>(cond, a, b, out);
    case 8:
      return launch_where<uint64_t>(cond, a, b, out);
    default:
      throw Error(
          ::kiln::detail::concat("where: unsupported element size for ", dtype_name(out.dtype())));
  }
}

}  // namespace kiln::cuda
