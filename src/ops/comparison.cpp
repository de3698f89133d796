// Comparisons and logical ops (bool results, no gradient) and whole-tensor predicates.
#include <cmath>

#include "ops/op_common.h"

namespace kiln {

namespace {
Tensor compare(OpId op, const Tensor& a, const Tensor& b) {
  check_defined(op_name(op), {&a, &b});
  return binary_raw(op, a, b, result_type({&a, &b}), DType::Bool);
}
}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare(OpId::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(OpId::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(OpId::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(OpId::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(OpId::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(OpId::Ge, a, b); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return compare(OpId::LogicalAnd, a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return compare(OpId::LogicalOr, a, b); }

bool equal(const Tensor& a, const Tensor& b) {
  check_defined("equal", {&a, &b});
  check_same_device("equal", {&a, &b});
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  check_defined("allclose", {&a, &b});
  check_same_device("allclose", {&a, &b});
  Shape shape = broadcast_shapes("allclose", a.shape(), b.shape());
  std::vector<double> x = broadcast_view(a, shape).to_vector();
  std::vector<double> y = broadcast_view(b, shape).to_vector();
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) {
      if (equal_nan && std::isnan(x[i]) && std::isnan(y[i])) continue;
      return false;
    }
    if (x[i] == y[i]) continue;  // equal infinities
    if (!(std::abs(x[i] - y[i]) <= atol + rtol * std::abs(y[i]))) return false;
  }
  return true;
}

}  // namespace kiln
