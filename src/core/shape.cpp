#include "kiln/shape.h"

#include <sstream>

#include "kiln/error.h"

namespace kiln {

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    KILN_CHECK_VALUE(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
                     shape_str(b), " cannot be broadcast together (dimension ", i, ": ", da, " vs ",
                     db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != to[lead + i] && from[i] != 1) return false;
  return true;
}

int64_t checked_numel(const char* op, const Shape& shape) {
  KILN_CHECK_VALUE(shape.size() <= kMaxTensorDims, op, ": ", shape.size(),
                   " dimensions requested; tensors have at most ", kMaxTensorDims);
  int64_t n = 1, strides = 1;
  for (int64_t s : shape) {
    KILN_CHECK_VALUE(s >= 0, op, ": negative dimension in shape ", shape_str(shape));
    KILN_CHECK_VALUE(!__builtin_mul_overflow(n, s, &n), op, ": shape ", shape_str(shape),
                     " has too many elements");
    // Strides multiply the non-zero sizes: [0, 2^62, 4] has no elements but would overflow them.
    KILN_CHECK_VALUE(!__builtin_mul_overflow(strides, std::max<int64_t>(s, 1), &strides), op,
                     ": shape ", shape_str(shape), " is too large");
  }
  return n;
}

int64_t wrap_dim(const char* op, int64_t dim, const Shape& shape) {
  const int64_t nd = int64_t(shape.size()), n = std::max<int64_t>(nd, 1);
  KILN_CHECK_VALUE(dim >= -n && dim < n, op, ": dimension ", dim, " is out of range for a ", nd,
                   "-D tensor of shape ", shape_str(shape), " (expected in [", -n, ", ", n - 1,
                   "])");
  return dim < 0 ? dim + n : dim;
}

int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor accepts dim 0 and -1
  KILN_CHECK_VALUE(dim >= -n && dim < n, op, ": dimension ", dim, " is out of range for a ", ndim,
                   "-D tensor (expected in [", -n, ", ", n - 1, "])");
  return dim < 0 ? dim + n : dim;
}

}  // namespace kiln
