// x[indices] (include/kiln/indexing.h). Basic indexing is a chain of views (select, slice,
// unsqueeze). Advanced indexing takes the elements at the result's offsets in x's row-major
// order (result_offsets, src/ops/index_plan.cpp) with one index_select over the flattened x;
// its backward adds the gradient into zeros at the same offsets (index_add, so repeated
// indices accumulate and the backward is itself differentiable).
//
// The result of advanced indexing is a copy, so x is flattened outside the graph: a recorded
// view of x would mark its storage as having views with history and refuse later in-place ops
// on x, which PyTorch allows after x[idx].
#include "ops/index_plan.h"

namespace kiln {

namespace {

// The elements of x at `offsets` (int64, contiguous, positions in x's row-major order).
Tensor take(const Tensor& x, const Tensor& offsets) {
  Tensor flat = reshape(contiguous(x.detach()), {x.numel()});
  Tensor idx = reshape(offsets, {offsets.numel()});
  Tensor out = empty(offsets.shape(), TensorOptions(x.dtype(), x.device()));
  backend_for(OpId::IndexSelect, x.device())
      .index_select(flat, 0, idx, reshape(out, {offsets.numel()}));
  if (should_record({&x})) {
    Shape in_shape = x.shape();
    SavedTensor saved(idx);
    record("IndexBackward0", {x}, {out},
           [in_shape, saved](FunctionNode& n, const std::vector<Tensor>& g) {
             Tensor z = zeros({numel_of(in_shape)}, TensorOptions(g[0].dtype(), g[0].device()));
             Tensor flat_g = reshape(g[0], {g[0].numel()});
             return std::vector<Tensor>{reshape(index_add(z, 0, saved.get(n), flat_g), in_shape)};
           });
  }
  return out;
}

}  // namespace

Tensor index(const Tensor& x, const std::vector<TensorIndex>& indices) {
  IndexPlan plan = plan_index("index", x, indices);
  if (!plan.has_advanced()) {
    Tensor v = apply_basic(plan, x);
    // x[()] and x[...] are new views of x (aliases), as in PyTorch.
    return v.is_same(x) ? view(x, x.shape()) : v;
  }
  Geometry row_major{x.shape(), contiguous_strides(x.shape()), 0};
  return take(x, result_offsets(plan, row_major, x.device()));
}

}  // namespace kiln
