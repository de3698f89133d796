#pragma once
// Shapes and strides are vectors of int64 in elements (not bytes), like PyTorch.
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace kiln {

using Shape = std::vector<int64_t>;

// Kernels keep per-dimension indices on the stack; tensors have at most this many dims.
inline constexpr size_t kMaxTensorDims = 64;

int64_t numel_of(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 3]"
// NumPy broadcasting; throws naming `op` and both shapes when they are incompatible.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
// Whether a tensor of shape `from` broadcasts to exactly `to`.
bool broadcasts_to(const Shape& from, const Shape& to);
// Wraps a possibly negative dim into [0, ndim); throws naming `op` when out of range. A 0-d
// tensor accepts 0 and -1, like PyTorch.
int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim);
// The same, naming the tensor's shape in the error.
int64_t wrap_dim(const char* op, int64_t dim, const Shape& shape);
// Number of elements; throws naming `op` when the shape is negative or the count overflows.
int64_t checked_numel(const char* op, const Shape& shape);

}  // namespace kiln
