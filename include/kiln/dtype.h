#pragma once
// Element types. float32 is the default; float64 is the gradcheck/reference type; bfloat16 and
// float16 are storage types whose arithmetic happens in float32.
#include <cstdint>
#include <cstring>
#include <string>

namespace kiln {

enum class DType : uint8_t { Bool, UInt8, Int32, Int64, Float16, BFloat16, Float32, Float64 };

inline constexpr DType kDefaultFloat = DType::Float32;
inline constexpr int kNumDTypes = 8;

size_t element_size(DType t);
const char* dtype_name(DType t);  // "float32", "int64", ...
bool is_floating(DType t);
bool is_integral(DType t);  // bool excluded
DType promote_types(DType a, DType b);
DType dtype_from_name(const std::string& name);  // throws kiln::TypeError on an unknown name

// bfloat16: the upper half of a float32; conversion rounds to nearest even.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  BFloat16(float f) {  // NOLINT(google-explicit-constructor): behaves like a number
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = uint16_t((u >> 16) | 0x40);  // keep NaN a (quiet) NaN
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      bits = uint16_t(u >> 16);
    }
  }
  operator float() const {  // NOLINT(google-explicit-constructor)
    uint32_t u = uint32_t(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

// IEEE 754 binary16; conversion rounds to nearest even, handles subnormals, inf and NaN.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  Half(float f) : bits(from_float(f)) {}             // NOLINT(google-explicit-constructor)
  operator float() const { return to_float(bits); }  // NOLINT(google-explicit-constructor)
  static uint16_t from_float(float f);
  static float to_float(uint16_t h);
};

}  // namespace kiln
