// x[indices] = value (include/kiln/indexing.h). The written elements are given by their
// offsets (result_offsets, src/ops/index_plan.cpp) and written with the scatter kernel on a
// flat, one-dimensional view: Scatter overwrites (the last of repeated offsets wins, the kernel
// runs in order), ScatterAdd accumulates.
//
// - index_put (out of place) scatters into a row-major copy of x and records its own node:
//   the gradient for x is g with zeros at the written positions (g itself when accumulating),
//   the one for value is g at those positions, summed back to value's shape.
// - index_put_ that records history computes index_put from a clone of x and writes it with
//   assign_inplace, like every in-place op (same refusals: leaves that require grad, views).
// - index_put_ without history writes straight into x's storage at the offsets under x's own
//   strides, so it touches only the indexed elements of x, contiguous or not; with basic
//   indices only it copies into the view.
#include "ops/index_plan.h"

namespace kiln {

namespace {

// The value shape index_put accepts for `result`: value's shape without the leading size-1
// dims that exceed the result's rank (Python's setitem drops them, as PyTorch's
// slicePrefix1sDims). Errors name the op and the shapes.
Shape value_shape_for(const char* op, const Tensor& x, const Tensor& value, const Shape& result) {
  Shape s = value.shape();
  size_t lead = 0;
  while (s.size() - lead > result.size() && s[lead] == 1) ++lead;
  Shape stripped(s.begin() + int64_t(lead), s.end());
  KILN_CHECK_VALUE(broadcasts_to(stripped, result), op, ": shape mismatch: value tensor of shape ",
                   shape_str(value.shape()),
                   " cannot be broadcast to the indexing result of shape ", shape_str(result),
                   " (input shape ", shape_str(x.shape()), ")");
  return stripped;
}

// `value` as the contiguous values to write, outside the graph: x's device and dtype, the
// result's shape, not sharing x's storage.
Tensor raw_values(const Tensor& x, const Tensor& value, const Shape& stripped,
                  const Shape& result) {
  Tensor v = value.detach();
  if (v.device() != x.device()) v = v.to(x.device());
  v = contiguous(cast_raw(v, x.dtype()));
  v = broadcast_view(make_view(v, stripped, contiguous_strides(stripped), v.storage_offset()),
                     result);
  if (!v.is_contiguous() || v.shares_storage(x)) v = v.clone();
  return v;
}

// Scatters `values` (contiguous, offsets' numel) into the one-dimensional view `flat`.
void scatter_flat(const Tensor& flat, const Tensor& offsets, const Tensor& values,
                  bool accumulate) {
  if (offsets.numel() == 0) return;
  const OpId op = accumulate ? OpId::ScatterAdd : OpId::Scatter;
  Tensor idx = reshape(offsets, {offsets.numel()});
  Tensor src = make_view(values, {values.numel()}, {1}, values.storage_offset());
  backend_for(op, flat.device()).scatter(op, flat, 0, idx, src);
}

// True when two elements of `t` share one memory location (an expanded dimension).
bool has_aliased_elements(const Tensor& t) {
  for (size_t d = 0; d < t.shape().size(); ++d)
    if (t.shape()[d] > 1 && t.strides()[d] == 0) return true;
  return false;
}

Tensor put_out_of_place(const char* op, const Tensor& x, const IndexPlan& plan, const Tensor& value,
                        bool accumulate) {
  const Shape& result = plan.result_shape;
  const Shape stripped = value_shape_for(op, x, value, result);
  // The conversions are recorded ops, so the value's own history sees its device and dtype.
  Tensor v = to_dtype(to_device(value, x.device()), x.dtype());

  Geometry row_major{x.shape(), contiguous_strides(x.shape()), 0};
  Tensor offsets = result_offsets(plan, row_major, x.device());
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  backend_for(OpId::Copy, x.device()).copy(x, out);
  Tensor vals = raw_values(x, v, stripped, result);
  scatter_flat(make_view(out, {out.numel()}, {1}, 0), offsets, vals, accumulate);

  if (should_record({&x, &v})) {
    Shape x_shape = x.shape(), v_shape = v.shape();
    SavedTensor saved(reshape(offsets, {offsets.numel()}));
    record(accumulate ? "IndexPutBackward1" : "IndexPutBackward0", {x, v}, {out},
           [saved, accumulate, x_shape, v_shape, result, stripped](FunctionNode& n,
                                                                   const std::vector<Tensor>& g) {
             Tensor idx = saved.get(n), flat_g = reshape(g[0], {g[0].numel()}), gx, gv;
             if (n.needs_input_grad(0))
               gx = accumulate ? g[0] : reshape(scatter(flat_g, 0, idx, Scalar(0)), x_shape);
             if (n.needs_input_grad(1))
               gv = reshape(sum_to(reshape(index_select(flat_g, 0, idx), result), stripped),
                            v_shape);
             return std::vector<Tensor>{gx, gv};
           });
  }
  return out;
}

}  // namespace

Tensor index_put(const Tensor& x, const std::vector<TensorIndex>& indices, const Tensor& value,
                 bool accumulate) {
  check_defined("index_put", {&x, &value});
  return put_out_of_place("index_put", x, plan_index("index_put", x, indices), value, accumulate);
}

Tensor index_put(const Tensor& x, const std::vector<TensorIndex>& indices, Scalar value,
                 bool accumulate) {
  check_defined("index_put", {&x});
  return index_put(x, indices, full({}, value, x.dtype(), x.device()), accumulate);
}

Tensor& index_put_(Tensor& x, const std::vector<TensorIndex>& indices, const Tensor& value,
                   bool accumulate) {
  const char* op = "index_put_";
  check_defined(op, {&x, &value});
  IndexPlan plan = plan_index(op, x, indices);
  const Shape stripped = value_shape_for(op, x, value, plan.result_shape);
  if (GradMode::is_enabled() && (x.requires_grad() || value.requires_grad())) {
    Tensor v = value.shares_storage(x) ? clone(value) : value;
    return assign_inplace(x, put_out_of_place(op, clone(x), plan, v, accumulate), op);
  }
  KILN_CHECK(!has_aliased_elements(x), op, ": several elements of the written-to tensor (",
             describe(x), ", strides ", shape_str(x.strides()),
             ") share one memory location; clone it first");
  Tensor vals = raw_values(x, value, stripped, plan.result_shape);
  Geometry own{x.shape(), x.strides(), x.storage_offset()};
  if (plan.has_advanced() || accumulate) {
    Tensor offsets = result_offsets(plan, own, x.device());
    int64_t span = 0;  // elements of the storage that x can reach
    if (x.numel() > 0) {
      span = x.storage_offset() + 1;
      for (int64_t d = 0; d < x.dim(); ++d) span += (x.size(d) - 1) * x.stride(d);
    }
    scatter_flat(make_view(x, {span}, {1}, 0), offsets, vals, accumulate);
  } else {
    Geometry g = apply_basic(plan, own);
    backend_for(OpId::Copy, x.device()).copy(vals, make_view(x, g.shape, g.strides, g.offset));
  }
  x.impl()->storage()->bump_version();
  return x;
}

Tensor& index_put_(Tensor& x, const std::vector<TensorIndex>& indices, Scalar value,
                   bool accumulate) {
  check_defined("index_put_", {&x});
  return index_put_(x, indices, full({}, value, x.dtype(), x.device()), accumulate);
}

}  // namespace kiln
