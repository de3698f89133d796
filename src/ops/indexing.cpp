// Indexing ops: index_select, index_add, gather, scatter, scatter_add (kernels in
// src/cpu/index.cpp) and the composites masked_fill, one_hot and embedding. Index values are
// read on the host and range-checked here, before any kernel runs, so kernels never see a bad
// index. Backward formulas are Kiln ops: index_select <-> index_add, gather <-> scatter_add.
#include <algorithm>

#include "ops/op_common.h"

namespace kiln {

namespace {

void check_index_dtype(const char* op, const Tensor& index) {
  KILN_CHECK_TYPE(index.dtype() == DType::Int64 || index.dtype() == DType::Int32, op,
                  ": expected an int64 or int32 index, got ", describe(index));
}

// Reads `index` on the host and checks that every value lies in [0, size); `context` finishes
// the error message ("for dimension 0 with size 3 (input shape [3, 4])").
void check_index_range(const char* op, const Tensor& index, int64_t size,
                       const std::string& context) {
  if (index.numel() == 0) return;
  Tensor host = index.device().is_cpu() ? index : index.to(Device::cpu());
  host = contiguous(cast_raw(host, DType::Int64));
  const int64_t* p = host.data<int64_t>();
  for (int64_t i = 0; i < host.numel(); ++i) {
    KILN_CHECK_VALUE(p[i] >= 0 && p[i] < size, op, ": index ", p[i], " is out of range ", context);
  }
}

std::string dim_context(int64_t dim, int64_t size, const Tensor& x) {
  return detail::concat("for dimension ", dim, " with size ", size, " (input shape ",
                        shape_str(x.shape()), ")");
}

// The index as the kernels take it: int64, contiguous, on its own device.
Tensor kernel_index(const Tensor& index) { return contiguous(cast_raw(index, DType::Int64)); }

Tensor at_least_1d(const Tensor& t) { return t.dim() == 0 ? reshape(t, {1}) : t; }

// A fresh copy of x that a kernel can write into, outside the graph.
Tensor raw_clone(const Tensor& x) {
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  backend_for(OpId::Copy, x.device()).copy(x, out);
  return out;
}

// Pads `t` with zeros at the end of every dimension up to `shape` (differentiable, via cat).
Tensor pad_to(Tensor t, const Shape& shape) {
  for (int64_t d = 0; d < t.dim(); ++d) {
    int64_t missing = shape[size_t(d)] - t.size(d);
    if (missing <= 0) continue;
    Shape zshape = t.shape();
    zshape[size_t(d)] = missing;
    t = cat({t, zeros(zshape, TensorOptions(t.dtype(), t.device()))}, d);
  }
  return t;
}

// ---- the kernel-backed ops, after their arguments were checked (idx: int64 on x's device) ----

Tensor index_add_impl(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src,
                      Scalar alpha);

// idx: 1-D.
Tensor index_select_impl(const Tensor& x, int64_t dim, const Tensor& idx) {
  Shape shape = x.shape();
  shape[size_t(dim)] = idx.numel();
  Tensor out = empty(shape, TensorOptions(x.dtype(), x.device()));
  backend_for(OpId::IndexSelect, x.device()).index_select(x, dim, idx, out);
  if (should_record({&x})) {
    Shape in_shape = x.shape();
    SavedTensor si(idx);
    record("IndexSelectBackward0", {x}, {out},
           [dim, si, in_shape](FunctionNode& n, const std::vector<Tensor>& g) {
             Tensor z = zeros(in_shape, TensorOptions(g[0].dtype(), g[0].device()));
             return std::vector<Tensor>{index_add_impl(z, dim, si.get(n), g[0], 1)};
           });
  }
  return out;
}

Tensor index_add_impl(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src,
                      Scalar alpha) {
  Tensor out = raw_clone(x);
  backend_for(OpId::IndexAdd, x.device()).index_add(out, dim, idx, src, alpha.to_double());
  if (should_record({&x, &src})) {
    SavedTensor si(idx);
    record("IndexAddBackward0", {x, src}, {out},
           [dim, si, alpha](FunctionNode& n, const std::vector<Tensor>& g) {
             Tensor gs;
             if (n.needs_input_grad(1)) {
               gs = index_select_impl(g[0], dim, si.get(n));
               if (alpha.to_double() != 1.0) gs = gs * alpha;
             }
             return std::vector<Tensor>{g[0], gs};
           });
  }
  return out;
}

Tensor scatter_impl(OpId op, const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src);
Tensor scatter_value_impl(const Tensor& x, int64_t dim, const Tensor& idx, Scalar value);

// idx: same rank as x.
Tensor gather_impl(const Tensor& x, int64_t dim, const Tensor& idx) {
  Tensor out = empty(idx.shape(), TensorOptions(x.dtype(), x.device()));
  backend_for(OpId::Gather, x.device()).gather(x, dim, idx, out);
  if (should_record({&x})) {
    Shape in_shape = x.shape();
    SavedTensor si(idx);
    record("GatherBackward0", {x}, {out},
           [dim, si, in_shape](FunctionNode& n, const std::vector<Tensor>& g) {
             Tensor z = zeros(in_shape, TensorOptions(g[0].dtype(), g[0].device()));
             return std::vector<Tensor>{scatter_impl(OpId::ScatterAdd, z, dim, si.get(n), g[0])};
           });
  }
  return out;
}

Tensor scatter_impl(OpId op, const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src) {
  Tensor out = raw_clone(x);
  backend_for(op, x.device()).scatter(op, out, dim, idx, src);
  if (should_record({&x, &src})) {
    const bool add = op == OpId::ScatterAdd;
    Shape src_shape = src.shape();
    SavedTensor si(idx);
    record(add ? "ScatterAddBackward0" : "ScatterBackward0", {x, src}, {out},
           [dim, si, add, src_shape](FunctionNode& n, const std::vector<Tensor>& g) {
             Tensor i = si.get(n), gx, gs;
             // scatter overwrites: the overwritten elements of x get no gradient.
             if (n.needs_input_grad(0)) gx = add ? g[0] : scatter_value_impl(g[0], dim, i, 0);
             // Only the first index.shape() elements of src are read; the rest get zeros.
             if (n.needs_input_grad(1)) gs = pad_to(gather_impl(g[0], dim, i), src_shape);
             return std::vector<Tensor>{gx, gs};
           });
  }
  return out;
}

Tensor scatter_value_impl(const Tensor& x, int64_t dim, const Tensor& idx, Scalar value) {
  Tensor v = full({}, value, x.dtype(), x.device());
  Tensor out = raw_clone(x);
  backend_for(OpId::Scatter, x.device())
      .scatter(OpId::Scatter, out, dim, idx, broadcast_view(v, idx.shape()));
  if (should_record({&x})) {
    SavedTensor si(idx);
    record("ScatterBackward1", {x}, {out},
           [dim, si](FunctionNode& n, const std::vector<Tensor>& g) {
             return std::vector<Tensor>{scatter_value_impl(g[0], dim, si.get(n), 0)};
           });
  }
  return out;
}

// gather/scatter: index has x's rank and fits in x (except along dim) and in src (everywhere).
// x, index and src are at least 1-D here; returns the wrapped dim.
int64_t check_gather_scatter(const char* op, const Tensor& x, int64_t dim, const Tensor& index,
                             const Tensor* src) {
  check_index_dtype(op, index);
  KILN_CHECK_VALUE(index.dim() == x.dim(), op, ": index ", shape_str(index.shape()),
                   " must have the same number of dimensions as input ", shape_str(x.shape()));
  dim = wrap_dim(op, dim, x.dim());
  for (int64_t d = 0; d < x.dim(); ++d) {
    KILN_CHECK_VALUE(d == dim || index.size(d) <= x.size(d), op, ": index ",
                     shape_str(index.shape()), " is larger than input ", shape_str(x.shape()),
                     " in dimension ", d, " (", index.size(d), " vs ", x.size(d), ")");
  }
  if (src) {
    KILN_CHECK_TYPE(src->dtype() == x.dtype(), op,
                    ": expected source and input to have the same dtype, got ",
                    dtype_name(src->dtype()), " and ", dtype_name(x.dtype()));
    KILN_CHECK_VALUE(src->dim() == x.dim(), op, ": source ", shape_str(src->shape()),
                     " must have the same number of dimensions as input ", shape_str(x.shape()));
    for (int64_t d = 0; d < x.dim(); ++d) {
      KILN_CHECK_VALUE(index.size(d) <= src->size(d), op, ": index ", shape_str(index.shape()),
                       " is larger than source ", shape_str(src->shape()), " in dimension ", d,
                       " (", index.size(d), " vs ", src->size(d), ")");
    }
  }
  check_index_range(op, index, x.size(dim), dim_context(dim, x.size(dim), x));
  return dim;
}

// Restores a 0-d result when the op was run on 1-element views of 0-d operands.
Tensor like_input(const Tensor& out, const Tensor& x) {
  return x.dim() == 0 ? reshape(out, {}) : out;
}

Tensor scatter_common(OpId op, const Tensor& x, int64_t dim, const Tensor& index,
                      const Tensor& src) {
  const char* name = op_name(op);
  check_defined(name, {&x, &index, &src});
  check_same_device(name, {&x, &index, &src});
  Tensor x1 = at_least_1d(x), i1 = at_least_1d(index), s1 = at_least_1d(src);
  dim = check_gather_scatter(name, x1, dim, i1, &s1);
  return like_input(scatter_impl(op, x1, dim, kernel_index(i1), s1), x);
}

void check_mask(const char* op, const Tensor& x, const Tensor& mask) {
  check_defined(op, {&x, &mask});
  check_same_device(op, {&x, &mask});
  KILN_CHECK_TYPE(mask.dtype() == DType::Bool, op, ": expected a bool mask, got ", describe(mask));
  KILN_CHECK_VALUE(broadcasts_to(mask.shape(), x.shape()), op, ": mask ", shape_str(mask.shape()),
                   " is not broadcastable to input ", shape_str(x.shape()));
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("index_select", {&x, &index});
  check_same_device("index_select", {&x, &index});
  check_index_dtype("index_select", index);
  KILN_CHECK_VALUE(index.dim() <= 1, "index_select: index must be 0-D or 1-D, got ",
                   shape_str(index.shape()));
  Tensor x1 = at_least_1d(x);
  dim = wrap_dim("index_select", dim, x1.dim());
  check_index_range("index_select", index, x1.size(dim), dim_context(dim, x1.size(dim), x));
  Tensor out = index_select_impl(x1, dim, reshape(kernel_index(index), {index.numel()}));
  return x.dim() == 0 ? reshape(out, index.shape()) : out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source,
                 Scalar alpha) {
  check_defined("index_add", {&x, &index, &source});
  check_same_device("index_add", {&x, &index, &source});
  check_index_dtype("index_add", index);
  KILN_CHECK_VALUE(index.dim() <= 1, "index_add: index must be 0-D or 1-D, got ",
                   shape_str(index.shape()));
  KILN_CHECK_TYPE(source.dtype() == x.dtype(),
                  "index_add: expected source and input to have the same dtype, got ",
                  dtype_name(source.dtype()), " and ", dtype_name(x.dtype()));
  KILN_CHECK_TYPE(is_floating(x.dtype()) || !alpha.is_floating(),
                  "index_add: a floating alpha cannot scale an integer tensor (", describe(x), ")");
  Tensor x1 = at_least_1d(x), s1 = at_least_1d(source);
  dim = wrap_dim("index_add", dim, x1.dim());
  KILN_CHECK_VALUE(s1.dim() == x1.dim(), "index_add: source ", shape_str(source.shape()),
                   " must have the same number of dimensions as input ", shape_str(x.shape()));
  for (int64_t d = 0; d < x1.dim(); ++d) {
    KILN_CHECK_VALUE(d == dim || s1.size(d) == x1.size(d), "index_add: source ",
                     shape_str(source.shape()), " and input ", shape_str(x.shape()),
                     " must match in every dimension but ", dim, " (dimension ", d, ": ",
                     s1.size(d), " vs ", x1.size(d), ")");
  }
  KILN_CHECK_VALUE(s1.size(dim) == index.numel(), "index_add: source ", shape_str(source.shape()),
                   " has ", s1.size(dim), " slices along dimension ", dim, " but index ",
                   shape_str(index.shape()), " has ", index.numel(), " entries");
  check_index_range("index_add", index, x1.size(dim), dim_context(dim, x1.size(dim), x));
  Tensor idx = reshape(kernel_index(index), {index.numel()});
  return like_input(index_add_impl(x1, dim, idx, s1, alpha), x);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("gather", {&x, &index});
  check_same_device("gather", {&x, &index});
  Tensor x1 = at_least_1d(x), i1 = at_least_1d(index);
  dim = check_gather_scatter("gather", x1, dim, i1, nullptr);
  Tensor out = gather_impl(x1, dim, kernel_index(i1));
  return index.dim() == 0 ? reshape(out, {}) : out;
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_common(OpId::Scatter, x, dim, index, src);
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_common(OpId::ScatterAdd, x, dim, index, src);
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, Scalar value) {
  check_defined("scatter", {&x, &index});
  check_same_device("scatter", {&x, &index});
  Tensor x1 = at_least_1d(x), i1 = at_least_1d(index);
  dim = check_gather_scatter("scatter", x1, dim, i1, nullptr);
  return like_input(scatter_value_impl(x1, dim, kernel_index(i1), value), x);
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  check_mask("masked_fill", x, mask);
  // A 0-d tensor (not a wrapped number) of x's dtype: the result keeps x's dtype.
  return where(mask, full({}, value, x.dtype(), x.device()), x);
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value) {
  check_defined("masked_fill", {&x, &mask, &value});
  KILN_CHECK_VALUE(value.dim() == 0,
                   "masked_fill: only supports a 0-dimensional value tensor, "
                   "got one of shape ",
                   shape_str(value.shape()));
  check_mask("masked_fill", x, mask);
  // The value may be a CPU number for a tensor elsewhere; its gradient is the sum of g where
  // mask holds (where() returns it in x's shape and the engine sums it down to 0-d).
  Tensor v = value.to(x.device()).to(x.dtype());
  return where(mask, v, x);
}

Tensor one_hot(const Tensor& index, int64_t num_classes) {
  check_defined("one_hot", {&index});
  KILN_CHECK_TYPE(index.dtype() == DType::Int64, "one_hot: expected an int64 tensor, got ",
                  describe(index));
  KILN_CHECK_VALUE(num_classes >= -1, "one_hot: num_classes must be -1 or non-negative, got ",
                   num_classes);
  Tensor host = contiguous(index.device().is_cpu() ? index : index.to(Device::cpu()));
  const int64_t* p = host.data<int64_t>();
  const int64_t n = host.numel();
  for (int64_t i = 0; i < n; ++i)
    KILN_CHECK_VALUE(p[i] >= 0, "one_hot: class values must be non-negative, got ", p[i]);
  if (num_classes == -1) {
    KILN_CHECK_VALUE(n > 0, "one_hot: cannot infer the number of classes from an empty tensor ",
                     shape_str(index.shape()), "; pass num_classes");
    num_classes = *std::max_element(p, p + n) + 1;
  } else {
    for (int64_t i = 0; i < n; ++i)
      KILN_CHECK_VALUE(p[i] < num_classes, "one_hot: class value ", p[i],
                       " is out of range for num_classes ", num_classes);
  }
  Tensor classes = arange(0, double(num_classes), 1, TensorOptions(DType::Int64, index.device()));
  return eq(unsqueeze(index, -1), classes).to(DType::Int64);
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  check_defined("embedding", {&weight, &indices});
  check_same_device("embedding", {&weight, &indices});
  KILN_CHECK_VALUE(weight.dim() == 2,
                   "embedding: expected a 2-D weight [num_embeddings, embedding_dim], got ",
                   shape_str(weight.shape()));
  KILN_CHECK_TYPE(indices.dtype() == DType::Int64 || indices.dtype() == DType::Int32,
                  "embedding: expected int64 or int32 indices, got ", describe(indices));
  check_index_range("embedding", indices, weight.size(0),
                    detail::concat("for an embedding table of ", weight.size(0), " rows (weight ",
                                   shape_str(weight.shape()), ")"));
  Tensor idx = reshape(kernel_index(indices), {indices.numel()});
  Shape shape = indices.shape();
  shape.push_back(weight.size(1));
  return reshape(index_select_impl(weight, 0, idx), shape);
}

}  // namespace kiln
