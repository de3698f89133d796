// Views: new shape/strides/offset over the same storage. Backward of each view maps the
// gradient back onto the input's geometry.
#include <algorithm>
#include <numeric>

#include "ops/op_common.h"

namespace kiln {

namespace {

Tensor record_view(const char* name, const Tensor& x, Tensor out, FunctionNode::Backward bw) {
  if (should_record({&x})) {
    record(name, {x}, {out}, std::move(bw));
    out.impl()->storage()->mark_view_with_history();
  }
  return out;
}

// Strides for viewing `x` as `shape` without copying, if possible (PyTorch's computeStride):
// each group of old dims that is contiguous in memory can be re-split freely.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides,
                                  const Shape& shape) {
  if (old_shape.empty()) return Shape(shape.size(), 1);
  int64_t numel = numel_of(old_shape);
  if (numel == 0) return contiguous_strides(shape);
  Shape strides(shape.size(), 0);
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[size_t(d)];
    if (d == 0 || (old_shape[size_t(d - 1)] != 1 &&
                   old_strides[size_t(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[size_t(view_d)] == 1)) {
        strides[size_t(view_d)] = view_numel * chunk_base_stride;
        view_numel *= shape[size_t(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[size_t(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

Shape infer_shape(const char* op, const Tensor& x, const Shape& shape) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      KILN_CHECK_VALUE(infer < 0, op, ": only one dimension can be inferred in ", shape_str(shape));
      infer = int64_t(i);
    } else {
      KILN_CHECK_VALUE(out[i] >= 0, op, ": invalid shape ", shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    KILN_CHECK_VALUE(known != 0 && x.numel() % known == 0, op, ": shape ", shape_str(shape),
                     " is invalid for input of shape ", shape_str(x.shape()));
    out[size_t(infer)] = x.numel() / known;
  }
  KILN_CHECK_VALUE(numel_of(out) == x.numel(), op, ": shape ", shape_str(shape),
                   " is invalid for input of shape ", shape_str(x.shape()), " (", x.numel(),
                   " elements)");
  return out;
}

Tensor reshape_backward_node(const char* name, const Tensor& x, Tensor out) {
  Shape in_shape = x.shape();
  return record_view(name, x, out, [in_shape](FunctionNode&, const std::vector<Tensor>& g) {
    return std::vector<Tensor>{reshape(g[0], in_shape)};
  });
}

// The gradient of a strided slice: zeros of the input's shape with `g` written into the slice.
Tensor slice_backward(const Tensor& g, const Shape& in_shape, int64_t dim, int64_t start,
                      int64_t step) {
  Tensor out = zeros(in_shape, TensorOptions(g.dtype(), g.device()));
  Tensor window = make_view(
      out, g.shape(),
      [&] {
        Shape s = out.strides();
        s[size_t(dim)] *= step;
        return s;
      }(),
      start * out.strides()[size_t(dim)]);
  backend_for(OpId::Copy, g.device()).copy(g, window);
  if (should_record({&g})) {
    int64_t len = g.shape()[size_t(dim)];
    record(
        "SliceBackwardBackward0", {g}, {out},
        [dim, start, step, len](FunctionNode&, const std::vector<Tensor>& gg) {
          return std::vector<Tensor>{slice(gg[0], dim, start, start + (len - 1) * step + 1, step)};
        });
  }
  return out;
}

}  // namespace

Tensor view(const Tensor& x, const Shape& shape) {
  check_defined("view", {&x});
  Shape s = infer_shape("view", x, shape);
  auto strides = view_strides(x.shape(), x.strides(), s);
  KILN_CHECK_VALUE(strides.has_value(), "view: shape ", shape_str(shape),
                   " is not compatible with the input's size and strides (shape ",
                   shape_str(x.shape()), ", strides ", shape_str(x.strides()),
                   "); use reshape instead");
  return reshape_backward_node("ViewBackward0", x, make_view(x, s, *strides, x.storage_offset()));
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined("reshape", {&x});
  Shape s = infer_shape("reshape", x, shape);
  if (s == x.shape()) return x;
  if (auto strides = view_strides(x.shape(), x.strides(), s))
    return reshape_backward_node("ViewBackward0", x, make_view(x, s, *strides, x.storage_offset()));
  return view(clone(x), s);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  check_defined("permute", {&x});
  const int64_t nd = x.dim();
  KILN_CHECK_VALUE(int64_t(dims.size()) == nd, "permute: got ", dims.size(),
                   " dims for a tensor of shape ", shape_str(x.shape()));
  Shape shape(static_cast<size_t>(nd)), strides(static_cast<size_t>(nd));
  std::vector<int64_t> inverse(static_cast<size_t>(nd), -1);
  for (int64_t i = 0; i < nd; ++i) {
    int64_t d = wrap_dim("permute", dims[size_t(i)], nd);
    KILN_CHECK_VALUE(inverse[size_t(d)] < 0, "permute: dim ", d, " repeats in ",
                     shape_str(Shape(dims)));
    inverse[size_t(d)] = i;
    shape[size_t(i)] = x.shape()[size_t(d)];
    strides[size_t(i)] = x.strides()[size_t(d)];
  }
  return record_view("PermuteBackward0", x, make_view(x, shape, strides, x.storage_offset()),
                     [inverse](FunctionNode&, const std::vector<Tensor>& g) {
                       return std::vector<Tensor>{permute(g[0], inverse)};
                     });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  check_defined("transpose", {&x});
  d0 = wrap_dim("transpose", d0, x.shape());
  d1 = wrap_dim("transpose", d1, x.shape());
  if (x.dim() == 0) return x;
  std::vector<int64_t> dims(size_t(x.dim()));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[size_t(d0)], dims[size_t(d1)]);
  return permute(x, dims);
}

Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start_opt,
             std::optional<int64_t> end_opt, int64_t step) {
  check_defined("slice", {&x});
  KILN_CHECK_VALUE(x.dim() > 0, "slice: cannot slice a 0-d tensor");
  dim = wrap_dim("slice", dim, x.dim());
  KILN_CHECK_VALUE(step > 0, "slice: step must be positive, got ", step);
  const int64_t size = x.shape()[size_t(dim)];
  auto clampi = [size](int64_t v) {
    if (v < 0) v += size;
    return std::clamp<int64_t>(v, 0, size);
  };
  int64_t start = clampi(start_opt.value_or(0));
  int64_t end = std::max(start, clampi(end_opt.value_or(size)));
  int64_t len = (end - start + step - 1) / step;
  Shape shape = x.shape(), strides = x.strides();
  shape[size_t(dim)] = len;
  strides[size_t(dim)] *= step;
  int64_t offset = x.storage_offset() + (len > 0 ? start * x.strides()[size_t(dim)] : 0);
  Shape in_shape = x.shape();
  return record_view("SliceBackward0", x, make_view(x, shape, strides, offset),
                     [in_shape, dim, start, step](FunctionNode&, const std::vector<Tensor>& g) {
                       return std::vector<Tensor>{slice_backward(g[0], in_shape, dim, start, step)};
                     });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  check_defined("narrow", {&x});
  KILN_CHECK_VALUE(x.dim() > 0, "narrow: cannot narrow a 0-d tensor");
  dim = wrap_dim("narrow", dim, x.dim());
  const int64_t size = x.shape()[size_t(dim)];
  if (start < 0) start += size;
  KILN_CHECK_VALUE(start >= 0 && length >= 0 && start + length <= size, "narrow: start ", start,
                   " and length ", length, " are out of range for dimension ", dim, " of size ",
                   size, " (shape ", shape_str(x.shape()), ")");
  return slice(x, dim, start, start + length, 1);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  check_defined("select", {&x});
  KILN_CHECK_VALUE(x.dim() > 0, "select: cannot select from a 0-d tensor");
  dim = wrap_dim("select", dim, x.dim());
  const int64_t size = x.shape()[size_t(dim)];
  KILN_CHECK_VALUE(index >= -size && index < size, "select: index ", index,
                   " is out of range for dimension ", dim, " of size ", size, " (shape ",
                   shape_str(x.shape()), ")");
  if (index < 0) index += size;
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  int64_t offset = x.storage_offset() + index * x.strides()[size_t(dim)];
  Shape in_shape = x.shape();
  return record_view(
      "SelectBackward0", x, make_view(x, shape, strides, offset),
      [in_shape, dim, index](FunctionNode&, const std::vector<Tensor>& g) {
        return std::vector<Tensor>{slice_backward(unsqueeze(g[0], dim), in_shape, dim, index, 1)};
      });
}

Tensor expand(const Tensor& x, const Shape& shape_in) {
  check_defined("expand", {&x});
  KILN_CHECK_VALUE(shape_in.size() >= size_t(x.dim()), "expand: the target shape ",
                   shape_str(shape_in), " has fewer dimensions than the input ",
                   shape_str(x.shape()));
  Shape shape = shape_in, strides(shape.size(), 0);
  const size_t lead = shape.size() - size_t(x.dim());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      KILN_CHECK_VALUE(shape[i] >= 0, "expand: -1 is not allowed in a new leading dimension (",
                       shape_str(shape_in), ")");
      continue;
    }
    int64_t have = x.shape()[i - lead];
    if (shape[i] == -1) shape[i] = have;
    KILN_CHECK_VALUE(shape[i] >= 0, "expand: invalid size ", shape[i], " in ", shape_str(shape_in));
    KILN_CHECK_VALUE(have == shape[i] || have == 1, "expand: the input of shape ",
                     shape_str(x.shape()), " cannot be expanded to ", shape_str(shape_in),
                     " (dimension ", i, ": ", have, " vs ", shape[i], ")");
    strides[i] = have == shape[i] ? x.strides()[i - lead] : 0;
  }
  if (shape == x.shape()) return x;
  Shape in_shape = x.shape();
  return record_view("ExpandBackward0", x, make_view(x, shape, strides, x.storage_offset()),
                     [in_shape](FunctionNode&, const std::vector<Tensor>& g) {
                       return std::vector<Tensor>{sum_to(g[0], in_shape)};
                     });
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) { return expand(x, shape); }

Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) {
  check_defined("squeeze", {&x});
  Shape shape, strides;
  std::optional<int64_t> d;
  if (dim) d = wrap_dim("squeeze", *dim, x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) {
    bool drop = x.shape()[size_t(i)] == 1 && (!d || *d == i);
    if (drop) continue;
    shape.push_back(x.shape()[size_t(i)]);
    strides.push_back(x.strides()[size_t(i)]);
  }
  if (shape.size() == size_t(x.dim())) return x;
  return reshape_backward_node("SqueezeBackward0", x,
                               make_view(x, shape, strides, x.storage_offset()));
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  check_defined("unsqueeze", {&x});
  dim = wrap_dim("unsqueeze", dim, x.dim() + 1);
  Shape shape = x.shape(), strides = x.strides();
  int64_t stride = size_t(dim) < strides.size() ? strides[size_t(dim)] * shape[size_t(dim)] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, stride);
  return reshape_backward_node("UnsqueezeBackward0", x,
                               make_view(x, shape, strides, x.storage_offset()));
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  check_defined("flatten", {&x});
  if (x.dim() == 0) return reshape(x, {1});
  start_dim = wrap_dim("flatten", start_dim, x.dim());
  end_dim = wrap_dim("flatten", end_dim, x.dim());
  KILN_CHECK_VALUE(start_dim <= end_dim, "flatten: start_dim ", start_dim, " is after end_dim ",
                   end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + start_dim);
  int64_t n = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) n *= x.shape()[size_t(i)];
  shape.push_back(n);
  shape.insert(shape.end(), x.shape().begin() + end_dim + 1, x.shape().end());
  return reshape(x, shape);
}

}  // namespace kiln
