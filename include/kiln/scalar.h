#pragma once
#include <cstdint>

#include "kiln/dtype.h"

namespace kiln {

// A number passed to an op (the `2.0` in `x * 2.0`). It keeps whether it was written as a bool,
// an integer or a float because that decides the result dtype under PyTorch's promotion rules.
class Scalar {
 public:
  enum class Kind : uint8_t { Bool, Int, Float };
  Scalar() : kind_(Kind::Int), i_(0) {}
  Scalar(bool v) : kind_(Kind::Bool), i_(v) {}               // NOLINT(google-explicit-constructor)
  Scalar(int v) : kind_(Kind::Int), i_(v) {}                 // NOLINT(google-explicit-constructor)
  Scalar(long v) : kind_(Kind::Int), i_(v) {}                // NOLINT(google-explicit-constructor)
  Scalar(long long v) : kind_(Kind::Int), i_(int64_t(v)) {}  // NOLINT(google-explicit-constructor)
  Scalar(float v) : kind_(Kind::Float), d_(v) {}             // NOLINT(google-explicit-constructor)
  Scalar(double v) : kind_(Kind::Float), d_(v) {}            // NOLINT(google-explicit-constructor)

  Kind kind() const { return kind_; }
  bool is_floating() const { return kind_ == Kind::Float; }
  double to_double() const { return kind_ == Kind::Float ? d_ : double(i_); }
  int64_t to_int() const { return kind_ == Kind::Float ? int64_t(d_) : i_; }
  // The dtype a bare number of this kind takes: float32, int64 or bool.
  DType default_dtype() const {
    return kind_ == Kind::Float ? kDefaultFloat : kind_ == Kind::Int ? DType::Int64 : DType::Bool;
  }

 private:
  Kind kind_;
  union {
    int64_t i_;
    double d_;
  };
};

}  // namespace kiln
