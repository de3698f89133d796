// Reductions: sum, mean, prod, var, std, amax/amin, max/min (full and along a dim), argmax/argmin,
// logsumexp, norm and sum_to. Kernel-backed ops (sum, prod, amax/amin, max/min along a dim) record
// a backward written with Kiln ops; the others are composites, or record explicit formulas where
// the composite's derivative is NaN at a point PyTorch defines (std and the 2-norm at zero).
#include <algorithm>
#include <cmath>

#include "ops/unary_op.h"

namespace kiln {

namespace {

bool is_half(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

// The dims an op reduces over: wrapped, sorted and unique; an empty list means all of them.
// A 0-d tensor accepts 0 and -1, and its list is empty (it reduces to itself).
std::vector<int64_t> reduce_dims(const char* op, const Tensor& x,
                                 const std::vector<int64_t>& dims) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(op, d, x.shape());
    KILN_CHECK_VALUE(std::find(out.begin(), out.end(), w) == out.end(), op, ": dimension ", w,
                     " appears more than once in the list of dims ", shape_str(dims),
                     " (input shape ", shape_str(x.shape()), ")");
    out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  if (x.dim() == 0) out.clear();
  return out;
}

bool contains(const std::vector<int64_t>& dims, int64_t d) {
  return std::find(dims.begin(), dims.end(), d) != dims.end();
}

// The result shape of a reduction over `dims`: size 1 there with keepdim, dropped without.
Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!contains(dims, int64_t(d)))
      out.push_back(shape[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

// How many elements each result element is reduced from.
int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= shape[size_t(d)];
  return n;
}

void check_floating_input(const char* op, const Tensor& x) {
  KILN_CHECK_TYPE(is_floating(x.dtype()), op, ": expected a floating point tensor, got ",
                  dtype_name(x.dtype()), " (input shape ", shape_str(x.shape()), ")");
}

// Reductions without an identity (amax, max, ...) refuse empty slices.
void check_nonempty(const char* op, const Tensor& x, const std::vector<int64_t>& dims) {
  for (int64_t d : dims)
    KILN_CHECK_VALUE(x.shape()[size_t(d)] != 0, op, ": cannot reduce over dimension ", d,
                     " of size 0 (input shape ", shape_str(x.shape()),
                     "): the operation has no identity");
}

Tensor scalar_like(double v, const Tensor& t) { return full({}, v, t.dtype(), t.device()); }

// Runs the reduce kernel `op` over `dims` (from reduce_dims) on x cast to `dtype`; no autograd.
// The result is allocated in its final shape; the kernel writes through a keepdim-shaped view.
Tensor reduce_raw(OpId op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim,
                  DType dtype) {
  Backend& be = backend_for(op, x.device());
  Tensor in = cast_raw(x, dtype);
  std::vector<int64_t> kdims = dims;
  if (in.dim() == 0) {  // a 0-d tensor is reduced as one element of a 1-D tensor
    in = make_view(in, {1}, {1}, in.storage_offset());
    kdims = {0};
  }
  Tensor out = empty(reduced_shape(x.shape(), dims, keepdim), TensorOptions(dtype, x.device()));
  Shape keep = reduced_shape(in.shape(), kdims, true);
  be.reduce(op, in, kdims, make_view(out, keep, contiguous_strides(keep), 0));
  return out;
}

// A reduction's gradient `g` brought back to the input's shape: broadcast over the reduced dims.
Tensor expand_grad(const Tensor& g, const Shape& in_shape, const std::vector<int64_t>& dims) {
  return expand(reshape(g, reduced_shape(in_shape, dims, true)), in_shape);
}

// Products of all elements along `dim` but each one, from prefix and suffix products (each a
// Hillis-Steele scan: log2(n) multiplications by shifted copies). It uses no division, so it is
// exact with zeros and differentiable again; prod's backward uses it when the input has zeros.
Tensor exclusive_prod(const Tensor& x, int64_t dim) {
  const int64_t n = x.shape()[size_t(dim)];
  auto ones_of = [&](int64_t len) {
    Shape s = x.shape();
    s[size_t(dim)] = len;
    return ones(s, TensorOptions(x.dtype(), x.device()));
  };
  // forward: out[i] = t[i - s]; backward: out[i] = t[i + s]; ones where that is outside.
  auto shift = [&](const Tensor& t, int64_t s, bool forward) {
    if (s >= n) return ones_of(n);
    return forward ? cat({ones_of(s), narrow(t, dim, 0, n - s)}, dim)
                   : cat({narrow(t, dim, s, n - s), ones_of(s)}, dim);
  };
  Tensor pre = x, suf = x;  // inclusive prefix and suffix products
  for (int64_t s = 1; s < n; s *= 2) {
    pre = pre * shift(pre, s, true);
    suf = suf * shift(suf, s, false);
  }
  return shift(pre, 1, true) * shift(suf, 1, false);
}

// amax / amin over dims; the gradient is shared evenly among the elements equal to the result.
Tensor extremum(OpId op, const char* name, const char* node, const Tensor& x,
                const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined(name, {&x});
  const std::vector<int64_t> dims = reduce_dims(name, x, dims_in);
  check_nonempty(name, x, dims);
  Tensor y = reduce_raw(op, x, dims, keepdim, x.dtype());
  if (should_record({&x})) {
    SavedTensor sx(x);
    Shape in_shape = x.shape();
    record(node, {x}, {y},
           [sx, in_shape, dims](FunctionNode& n, const std::vector<Tensor>& g) {
             Tensor xv = sx.get(n);
             Shape keep = reduced_shape(in_shape, dims, true);
             Tensor mask = eq(xv, reshape(n.saved_output(0), keep));
             // A NaN result matches nothing: count 0, clamped so no 0/0 enters the graph.
             Tensor count = clamp(sum(mask, dims, true), 1, std::nullopt);
             return std::vector<Tensor>{mask_grad(mask, reshape(g[0], keep) / count)};
           },
           {0});
  }
  return y;
}

// max / min along one dim with int64 indices (first occurrence; a NaN wins at its first index).
// The gradient goes to the element at the returned index.
std::pair<Tensor, Tensor> extremum_dim(OpId op, const char* name, const char* node, const Tensor& x,
                                       int64_t dim, bool keepdim) {
  check_defined(name, {&x});
  const int64_t d = wrap_dim(name, dim, x.shape());
  if (x.dim() == 0) return extremum_dim(op, name, node, reshape(x, {1}), 0, false);
  const std::vector<int64_t> dims{d};
  check_nonempty(name, x, dims);
  const Shape keep = reduced_shape(x.shape(), dims, true);
  const Shape shape = reduced_shape(x.shape(), dims, keepdim);
  Tensor values = empty(shape, TensorOptions(x.dtype(), x.device()));
  Tensor indices = empty(shape, TensorOptions(DType::Int64, x.device()));
  const Shape strides = contiguous_strides(keep);
  backend_for(op, x.device())
      .arg_reduce(op, x, d, make_view(values, keep, strides, 0),
                  make_view(indices, keep, strides, 0));
  if (should_record({&x})) {
    SavedTensor si(indices);
    Shape in_shape = x.shape();
    record(node, {x}, {values},
           [si, in_shape, keep, d](FunctionNode& n, const std::vector<Tensor>& g) {
             Shape ar_shape(in_shape.size(), 1);
             ar_shape[size_t(d)] = in_shape[size_t(d)];
             Tensor positions = reshape(
                 arange(double(in_shape[size_t(d)]), TensorOptions(DType::Int64, g[0].device())),
                 ar_shape);
             Tensor chosen = eq(positions, reshape(si.get(n), keep));
             return std::vector<Tensor>{mask_grad(chosen, reshape(g[0], keep))};
           });
  }
  return {values, indices};
}

Tensor arg_extremum(OpId op, const char* name, const Tensor& x, std::optional<int64_t> dim,
                    bool keepdim) {
  check_defined(name, {&x});
  if (dim) return extremum_dim(op, name, "", x.detach(), *dim, keepdim).second;
  KILN_CHECK_VALUE(x.numel() > 0, name, ": expected a non-empty tensor (input shape ",
                   shape_str(x.shape()), "): the operation has no identity");
  Tensor flat = reshape(x.detach(), {x.numel()});
  Tensor idx = extremum_dim(op, name, "", flat, 0, false).second;
  return keepdim ? reshape(idx, Shape(size_t(x.dim()), 1)) : idx;
}

// The gradient of ||x||_p for finite p != 0, 1 (PyTorch's norm_backward), with y = ||x||_p and
// g in the reduced shape. Where the norm is 0 the gradient is 0, not NaN.
Tensor norm_backward(const Tensor& x, const Tensor& y, const Tensor& g, double p,
                     const Shape& in_shape, const std::vector<int64_t>& dims) {
  Tensor zero = scalar_like(0, g), one = scalar_like(1, y);
  Tensor y_zero = eq(y, zero);
  Tensor y_safe = where(y_zero, one, y);
  if (p < 1) {  // |x|^(p-1) is infinite at x == 0: those elements get 0, as in PyTorch
    Tensor x_zero = eq(x, zero);
    Tensor ax_safe = where(x_zero, one, abs(x));
    Tensor scaled = mask_grad(logical_not(x_zero), sign(x) * pow(ax_safe, p - 1));
    return scaled * expand_grad(g * pow(y, 1 - p), in_shape, dims);
  }
  Tensor scaled = p == 2 ? x : p < 2 ? sign(x) * pow(abs(x), p - 1) : x * pow(abs(x), p - 2);
  Tensor scale = mask_grad(logical_not(y_zero), g / (p == 2 ? y_safe : pow(y_safe, p - 1)));
  return scaled * expand_grad(scale, in_shape, dims);
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim,
           std::optional<DType> dtype) {
  check_defined("sum", {&x});
  const std::vector<int64_t> dims = reduce_dims("sum", x, dims_in);
  // Like PyTorch, bool and integer tensors sum in int64.
  const DType type = dtype ? *dtype : is_floating(x.dtype()) ? x.dtype() : DType::Int64;
  Tensor y = reduce_raw(OpId::Sum, x, dims, keepdim, type);
  if (is_floating(type) && should_record({&x})) {
    Shape in_shape = x.shape();
    record("SumBackward1", {x}, {y}, [in_shape, dims](FunctionNode&, const std::vector<Tensor>& g) {
      return std::vector<Tensor>{expand_grad(g[0], in_shape, dims)};
    });
  }
  return y;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined("mean", {&x});
  check_floating_input("mean", x);
  const std::vector<int64_t> dims = reduce_dims("mean", x, dims_in);
  const double n = double(reduced_count(x.shape(), dims));
  // float16/bfloat16 are summed and divided in float32, then rounded once.
  const DType acc = is_half(x.dtype()) ? DType::Float32 : x.dtype();
  return to_dtype(sum(x, dims, keepdim, acc) / n, x.dtype());
}

Tensor prod(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  check_defined("prod", {&x});
  const std::vector<int64_t> dims =
      dim ? reduce_dims("prod", x, {*dim}) : reduce_dims("prod", x, {});
  if (!dim) keepdim = false;
  const DType type = is_floating(x.dtype()) ? x.dtype() : DType::Int64;
  Tensor y = reduce_raw(OpId::Prod, x, dims, keepdim, type);
  if (is_floating(type) && should_record({&x})) {
    SavedTensor sx(x);
    Shape in_shape = x.shape();
    const bool flat = dims.size() != 1;  // all dims: the scan runs over the flattened input
    record(dim ? "ProdBackward1" : "ProdBackward0", {x}, {y},
           [sx, in_shape, dims, flat](FunctionNode& n, const std::vector<Tensor>& g) {
             Tensor xv = sx.get(n);
             Tensor gx = expand_grad(g[0], in_shape, dims);
             if (!any_true(eq(xv, scalar_like(0, xv)))) {  // no zeros: d prod / dx_i = prod / x_i
               Tensor yv = expand_grad(n.saved_output(0), in_shape, dims);
               return std::vector<Tensor>{gx * yv / xv};
             }
             // With zeros, prod / x_i is 0/0: take the product of the other elements directly.
             Tensor others = flat ? reshape(exclusive_prod(reshape(xv, {xv.numel()}), 0), in_shape)
                                  : exclusive_prod(xv, dims[0]);
             return std::vector<Tensor>{gx * others};
           },
           {0});
  }
  return y;
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, double correction, bool keepdim) {
  check_defined("var", {&x});
  check_floating_input("var", x);
  const std::vector<int64_t> dims = reduce_dims("var", x, dims_in);
  if (is_half(x.dtype()))
    return to_dtype(var(to_dtype(x, DType::Float32), dims, correction, keepdim), x.dtype());
  const double n = double(reduced_count(x.shape(), dims));
  // PyTorch divides by max(0, N - correction): inf or NaN when that is 0.
  return sum(square(x - mean(x, dims, true)), dims, keepdim) / std::max(0.0, n - correction);
}

Tensor std(const Tensor& x, const std::vector<int64_t>& dims_in, double correction, bool keepdim) {
  check_defined("std", {&x});
  check_floating_input("std", x);
  const std::vector<int64_t> dims = reduce_dims("std", x, dims_in);
  if (is_half(x.dtype()))
    return to_dtype(kiln::std(to_dtype(x, DType::Float32), dims, correction, keepdim), x.dtype());
  Tensor y;
  {
    NoGradGuard no_grad;
    y = sqrt(var(x, dims, correction, keepdim));
  }
  if (should_record({&x})) {
    // sqrt's derivative is infinite at 0; PyTorch defines std's gradient there as 0.
    SavedTensor sx(x);
    Shape in_shape = x.shape();
    const double denom = std::max(0.0, double(reduced_count(x.shape(), dims)) - correction);
    record("StdBackward0", {x}, {y},
           [sx, in_shape, dims, denom](FunctionNode& n, const std::vector<Tensor>& g) {
             Tensor xv = sx.get(n), yv = n.saved_output(0);
             Tensor y_zero = eq(yv, scalar_like(0, yv));
             Tensor y_safe = where(y_zero, scalar_like(1, yv), yv);
             Tensor g_var = mask_grad(logical_not(y_zero), g[0] / (y_safe * 2));
             return std::vector<Tensor>{expand_grad(g_var, in_shape, dims) *
                                        (xv - mean(xv, dims, true)) * (2.0 / denom)};
           },
           {0});
  }
  return y;
}

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum(OpId::Amax, "amax", "AmaxBackward0", x, dims, keepdim);
}
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum(OpId::Amin, "amin", "AminBackward0", x, dims, keepdim);
}

Tensor max(const Tensor& x) {
  check_defined("max", {&x});
  KILN_CHECK_VALUE(x.numel() > 0, "max: expected a non-empty tensor (input shape ",
                   shape_str(x.shape()), "): the operation has no identity");
  return extremum(OpId::Amax, "max", "MaxBackward1", x, {}, false);
}
Tensor min(const Tensor& x) {
  check_defined("min", {&x});
  KILN_CHECK_VALUE(x.numel() > 0, "min: expected a non-empty tensor (input shape ",
                   shape_str(x.shape()), "): the operation has no identity");
  return extremum(OpId::Amin, "min", "MinBackward1", x, {}, false);
}

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_dim(OpId::MaxDim, "max", "MaxBackward0", x, dim, keepdim);
}
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_dim(OpId::MinDim, "min", "MinBackward0", x, dim, keepdim);
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_extremum(OpId::MaxDim, "argmax", x, dim, keepdim);
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_extremum(OpId::MinDim, "argmin", x, dim, keepdim);
}

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined("logsumexp", {&x});
  const std::vector<int64_t> dims = reduce_dims("logsumexp", x, dims_in);
  if (!is_floating(x.dtype()))  // integers give float32, like PyTorch
    return logsumexp(to_dtype(x, kDefaultFloat), dims, keepdim);
  if (is_half(x.dtype()))
    return to_dtype(logsumexp(to_dtype(x, DType::Float32), dims, keepdim), x.dtype());
  // Shift by the (constant) maximum; an infinite maximum is replaced by 0 so that rows of -inf
  // give -inf and rows holding +inf give +inf instead of NaN from inf - inf.
  Tensor m;
  if (reduced_count(x.shape(), dims) == 0)
    m = zeros(reduced_shape(x.shape(), dims, true), TensorOptions(x.dtype(), x.device()));
  else
    m = amax(x.detach(), dims, true);
  m = where(isfinite(m), m, scalar_like(0, m));
  Tensor s = sum(exp(x - m), dims, keepdim);
  return log(s) + (keepdim ? m : reshape(m, reduced_shape(x.shape(), dims, false)));
}

Tensor norm(const Tensor& x, double p, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined("norm", {&x});
  check_floating_input("norm", x);
  KILN_CHECK_VALUE(!std::isnan(p), "norm: p must not be NaN (input shape ", shape_str(x.shape()),
                   ")");
  const std::vector<int64_t> dims = reduce_dims("norm", x, dims_in);
  if (is_half(x.dtype()))
    return to_dtype(norm(to_dtype(x, DType::Float32), p, dims, keepdim), x.dtype());
  if (p == 1) return sum(abs(x), dims, keepdim);
  if (std::isinf(p)) {
    for (int64_t d : dims)
      KILN_CHECK_VALUE(x.shape()[size_t(d)] != 0, "norm: cannot compute the ", p,
                       " norm over dimension ", d, " of size 0 (input shape ", shape_str(x.shape()),
                       ")");
    return p > 0 ? amax(abs(x), dims, keepdim) : amin(abs(x), dims, keepdim);
  }
  Tensor y;
  {
    NoGradGuard no_grad;
    if (p == 0)
      y = cast_raw(sum(ne(x, scalar_like(0, x)), dims, keepdim), x.dtype());
    else if (p == 2)
      y = sqrt(sum(square(x), dims, keepdim));
    else
      y = pow(sum(pow(abs(x), p), dims, keepdim), 1.0 / p);
  }
  if (should_record({&x})) {
    Shape in_shape = x.shape();
    if (p == 0) {  // a count: piecewise constant, so the gradient is 0 (as in PyTorch)
      record("NormBackward1", {x}, {y}, [in_shape](FunctionNode&, const std::vector<Tensor>& g) {
        return std::vector<Tensor>{zeros(in_shape, TensorOptions(g[0].dtype(), g[0].device()))};
      });
    } else {
      SavedTensor sx(x);
      record("NormBackward1", {x}, {y},
             [sx, in_shape, dims, p](FunctionNode& n, const std::vector<Tensor>& g) {
               return std::vector<Tensor>{
                   norm_backward(sx.get(n), n.saved_output(0), g[0], p, in_shape, dims)};
             },
             {0});
    }
  }
  return y;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_defined("sum_to", {&x});
  if (x.shape() == shape) return x;
  const int64_t nd = x.dim(), lead = nd - int64_t(shape.size());
  auto fail = [&] {
    return detail::concat("sum_to: a tensor of shape ", shape_str(x.shape()),
                          " cannot be summed to shape ", shape_str(shape),
                          " (the target must broadcast to the input)");
  };
  KILN_CHECK_VALUE(lead >= 0, fail());
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < nd; ++i) {
    if (i < lead) {
      dims.push_back(i);
      continue;
    }
    const int64_t want = shape[size_t(i - lead)], have = x.shape()[size_t(i)];
    if (want == have) continue;
    KILN_CHECK_VALUE(want == 1, fail());
    dims.push_back(i);
  }
  Tensor s = dims.empty() ? x : sum(x, dims, true);
  return reshape(s, shape);
}

}  // namespace kiln
