#pragma once
// Shapes and strides are vectors of int64 in elements (not bytes), like PyTorch.
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace kiln {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 3]"
// NumPy broadcasting; throws naming `op` and both shapes when they are incompatible.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
// Wraps a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim);

}  // namespace kiln
