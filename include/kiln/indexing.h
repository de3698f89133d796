#pragma once
// NumPy/PyTorch-style indexing: what Python's `x[...]` and `x[...] = v` call.
//
//   index(x, {0, Slice{1, std::nullopt, 2}, NewAxis{}, EllipsisIndex{}, idx})
//
// Integers select (negative values count from the end), slices take every step-th element
// (step > 0, bounds clamped like Python), NewAxis inserts a dimension of size 1, one
// EllipsisIndex stands for as many full slices as needed. With only these the result is a view
// sharing x's storage. Tensor indices are advanced indexing: int64/int32 tensors pick elements
// along one dimension each, bool (and, as in PyTorch, uint8) tensors are masks that consume as
// many dimensions as they have and stand for the index tensors of their non-zero positions.
// Index tensors broadcast together; the broadcast dims replace the indexed dims in place when
// all advanced indices are adjacent, and go first otherwise. As in PyTorch, integers are basic
// selects applied first: they never count as advanced indices, and a 0-d integer tensor is an
// integer. The result of advanced indexing is a copy.
//
// Errors are kiln::IndexError (out-of-range indices, too many indices, masks of the wrong shape,
// index tensors that do not broadcast or have a wrong dtype) or ValueError (slice step <= 0),
// naming the op and the shapes. See src/ops/index_plan.cpp.
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "kiln/scalar.h"
#include "kiln/tensor.h"

namespace kiln {

struct Slice {  // Python's start:stop:step
  std::optional<int64_t> start, stop;
  int64_t step = 1;
};
struct NewAxis {};        // None
struct EllipsisIndex {};  // ...
using TensorIndex = std::variant<int64_t, Slice, NewAxis, EllipsisIndex, Tensor>;

// x[indices] with PyTorch semantics; differentiable.
Tensor index(const Tensor& x, const std::vector<TensorIndex>& indices);

// x[indices] = value, in place; returns x. The value is broadcast to the shape of x[indices]
// (leading dimensions of size 1 that do not fit are dropped, as Python's setitem does) and cast
// to x's dtype. With accumulate, values add into x and repeated indices accumulate (PyTorch's
// index_put_(accumulate=True)); without, the last of repeated indices wins. Under autograd it
// records history like the other in-place ops (and refuses leaves that require grad, and views).
Tensor& index_put_(Tensor& x, const std::vector<TensorIndex>& indices, const Tensor& value,
                   bool accumulate = false);
Tensor& index_put_(Tensor& x, const std::vector<TensorIndex>& indices, Scalar value,
                   bool accumulate = false);
// Out of place: a new tensor, differentiable w.r.t. x (zero gradient at written positions unless
// accumulating) and value (the gradient at its positions, summed back to value's shape).
Tensor index_put(const Tensor& x, const std::vector<TensorIndex>& indices, const Tensor& value,
                 bool accumulate = false);
Tensor index_put(const Tensor& x, const std::vector<TensorIndex>& indices, Scalar value,
                 bool accumulate = false);

// Positions of the non-zero elements of x in row-major order: int64 [n, x.dim()] on x's device
// (no autograd). nonzero_tuple gives its x.dim() columns (a 0-d x counts as 1-D), as
// torch.nonzero(as_tuple=True).
Tensor nonzero(const Tensor& x);
std::vector<Tensor> nonzero_tuple(const Tensor& x);

}  // namespace kiln
