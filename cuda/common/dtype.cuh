#pragma once
// dtype -> device type dispatch for the CUDA kernels, mirroring src/cpu/dispatch.h:
//   dispatch_all(t, "op", [&]<class T>() { launch_something<T>(...); });
// float16 and bfloat16 are stored as __half / __nv_bfloat16 and computed in float (acc_t), so a
// CUDA result rounds exactly where the CPU reference (kiln::Half / kiln::BFloat16) rounds.
//
// nvcc does not allow an extended __device__ lambda inside a generic lambda, so kernels take
// functors templated on T (or plain template kernels) and the generic lambda only calls a
// template launcher.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "kiln/dtype.h"
#include "kiln/error.h"

namespace kiln::cuda {

using half = __half;
using bfloat16 = __nv_bfloat16;

template <class T>
inline constexpr bool is_reduced_float_v = std::is_same_v<T, half> || std::is_same_v<T, bfloat16>;
template <class T>
inline constexpr bool is_float_type_v = std::is_floating_point_v<T> || is_reduced_float_v<T>;

// Arithmetic type: float for float32/16/bf16, double for float64, the type itself for integers
// and bool (as on the CPU: src/cpu/dispatch.h).
template <class T>
using acc_t = std::conditional_t<is_reduced_float_v<T>, float, T>;

// Value conversion inside kernels: reduced floats go through float (round to nearest even), bool
// is "!= 0", everything else is a C++ conversion, so a float -> integer conversion is only
// defined for in-range values. Tensor copies between dtypes use copy_convert (kernels/copy.cu),
// which saturates and wraps exactly as src/cpu/copy.cpp does.
template <class To, class From>
__host__ __device__ __forceinline__ To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (is_reduced_float_v<From>) {
    return convert<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_same_v<To, half>) {
    return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

template <class F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::Bool:
      return f.template operator()<bool>();
    case DType::UInt8:
      return f.template operator()<uint8_t>();
    case DType::Int32:
      return f.template operator()<int32_t>();
    case DType::Int64:
      return f.template operator()<int64_t>();
    case DType::Float16:
      return f.template operator()<half>();
    case DType::BFloat16:
      return f.template operator()<bfloat16>();
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
  }
  throw Error("unknown dtype");
}

template <class F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float16:
      return f.template operator()<half>();
    case DType::BFloat16:
      return f.template operator()<bfloat16>();
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    default:
      throw TypeError(
          ::kiln::detail::concat(op, ": not implemented for ", dtype_name(t), " on CUDA"));
  }
}

// Numbers without bool (arithmetic on bool is done in the op layer by promotion).
template <class F>
decltype(auto) dispatch_numeric(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::UInt8:
      return f.template operator()<uint8_t>();
    case DType::Int32:
      return f.template operator()<int32_t>();
    case DType::Int64:
      return f.template operator()<int64_t>();
    case DType::Float16:
      return f.template operator()<half>();
    case DType::BFloat16:
      return f.template operator()<bfloat16>();
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    default:
      throw TypeError(
          ::kiln::detail::concat(op, ": not implemented for ", dtype_name(t), " on CUDA"));
  }
}

}  // namespace kiln::cuda
