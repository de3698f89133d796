#pragma once
// The plan of an indexing expression x[indices] (include/kiln/indexing.h): the basic part as a
// sequence of view steps (select, slice, unsqueeze, in PyTorch's order: integers select first),
// then the advanced part as one int64 index tensor per indexed dimension of the basic view.
// index() and index_put_() share it; both reduce advanced indexing to the element offsets of
// the result (result_offsets), which turn it into index_select / scatter on a flat tensor.
#include <vector>

#include "kiln/indexing.h"
#include "ops/op_common.h"

namespace kiln {

struct BasicStep {
  enum class Kind { Select, Slice, Unsqueeze };
  Kind kind;
  int64_t dim;
  int64_t start = 0;   // Select: the (wrapped) index; Slice: the first element
  int64_t length = 0;  // Slice: the number of elements taken
  int64_t step = 1;    // Slice
};

// Where a tensor's elements lie in its storage.
struct Geometry {
  Shape shape, strides;
  int64_t offset = 0;
};

struct IndexPlan {
  std::vector<BasicStep> steps;
  Shape basic_shape;  // after the steps
  // One per dim of basic_shape: an int64 CPU tensor of in-range, non-negative positions, or
  // undefined where the dim is not indexed.
  std::vector<Tensor> indices;
  Shape index_shape;        // the broadcast shape of the defined indices
  int64_t index_axis = -1;  // where index_shape's dims start in the result; -1: no indices
  Shape result_shape;

  bool has_advanced() const { return index_axis >= 0; }
};

// Checks `indices` against x's shape; errors name `op` and the shapes.
IndexPlan plan_index(const char* op, const Tensor& x, const std::vector<TensorIndex>& indices);

// The basic steps applied as views of x (select/slice/unsqueeze ops, so autograd sees them).
Tensor apply_basic(const IndexPlan& plan, const Tensor& x);
// The basic steps applied to a geometry.
Geometry apply_basic(const IndexPlan& plan, Geometry g);

// For each element of the result (shape plan.result_shape), its offset under `base` (the
// geometry of x): an int64 tensor on `device`, contiguous.
Tensor result_offsets(const IndexPlan& plan, const Geometry& base, Device device);

}  // namespace kiln
