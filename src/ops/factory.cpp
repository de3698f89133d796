// Tensor factories.
#include <cmath>

#include "ops/op_common.h"

namespace kiln {

namespace {
Tensor finish(Tensor t, const TensorOptions& opt) {
  if (opt.requires_grad) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor empty(const Shape& shape, TensorOptions opt) {
  const int64_t n = checked_numel("empty", shape);
  size_t nbytes = 0;
  KILN_CHECK_VALUE(!__builtin_mul_overflow(size_t(n), element_size(opt.dtype), &nbytes),
                   "empty: shape ", shape_str(shape), " is too large");
  auto storage = backend(opt.device).allocate(nbytes, opt.device);
  auto impl = std::make_shared<TensorImpl>(std::move(storage), shape, contiguous_strides(shape), 0,
                                           opt.dtype);
  return finish(Tensor(impl), opt);
}

Tensor full(const Shape& shape, Scalar value, std::optional<DType> dtype, Device device) {
  Tensor t = empty(shape, TensorOptions(dtype.value_or(value.default_dtype()), device));
  backend_for(OpId::Fill, device).fill(t, value);
  return t;
}

Tensor zeros(const Shape& shape, TensorOptions opt) {
  return finish(full(shape, 0, opt.dtype, opt.device), opt);
}
Tensor ones(const Shape& shape, TensorOptions opt) {
  return finish(full(shape, 1, opt.dtype, opt.device), opt);
}
Tensor scalar_tensor(Scalar value, std::optional<DType> dtype, Device device) {
  return full({}, value, dtype, device);
}

Tensor zeros_like(const Tensor& t) {
  return zeros(t.shape(), TensorOptions(t.dtype(), t.device()));
}
Tensor ones_like(const Tensor& t) { return ones(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor empty_like(const Tensor& t) {
  return empty(t.shape(), TensorOptions(t.dtype(), t.device()));
}
Tensor full_like(const Tensor& t, Scalar v) { return full(t.shape(), v, t.dtype(), t.device()); }

Tensor arange(double end, TensorOptions opt) { return arange(0, end, 1, opt); }

Tensor arange(double start, double end, double step, TensorOptions opt) {
  KILN_CHECK_VALUE(step != 0, "arange: step must be nonzero");
  KILN_CHECK_VALUE(std::isfinite(start) && std::isfinite(end), "arange: unsupported range [", start,
                   ", ", end, ")");
  KILN_CHECK_VALUE((end - start) / step >= 0, "arange: upper bound ", end, " and lower bound ",
                   start, " are inconsistent with the sign of step ", step);
  auto n = int64_t(std::ceil((end - start) / step));
  Tensor t = empty({n}, TensorOptions(opt.dtype, opt.device));
  backend_for(OpId::Arange, opt.device).arange(t, start, step);
  return finish(t, opt);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions opt) {
  KILN_CHECK_VALUE(steps >= 0, "linspace: number of steps must be non-negative, got ", steps);
  double step = steps > 1 ? (end - start) / double(steps - 1) : 0.0;
  Tensor t = empty({steps}, TensorOptions(opt.dtype, opt.device));
  backend_for(OpId::Arange, opt.device).arange(t, start, step);
  // PyTorch fills the second half backwards from `end` so the last value is exact.
  if (steps > 1) {
    Tensor tail = empty({steps - steps / 2}, TensorOptions(opt.dtype, opt.device));
    backend_for(OpId::Arange, opt.device)
        .arange(tail, end - step * double(steps - steps / 2 - 1), step);
    backend_for(OpId::Copy, opt.device).copy(tail, t.narrow(0, steps / 2, steps - steps / 2));
  }
  return finish(t, opt);
}

Tensor eye(int64_t n, std::optional<int64_t> m_opt, TensorOptions opt) {
  int64_t m = m_opt.value_or(n);
  KILN_CHECK_VALUE(n >= 0 && m >= 0, "eye: n and m must be non-negative, got ", n, ", ", m);
  Tensor t = zeros({n, m}, TensorOptions(opt.dtype, opt.device));
  int64_t d = std::min(n, m);
  if (d > 0) {
    Tensor diag = make_view(t, {d}, {m + 1}, 0);
    backend_for(OpId::Fill, opt.device).fill(diag, 1);
  }
  return finish(t, opt);
}

namespace {
template <class V>
Tensor from_data(const std::vector<V>& data, const Shape& shape_in, TensorOptions opt, DType src) {
  Shape shape = shape_in.empty() ? Shape{int64_t(data.size())} : shape_in;
  KILN_CHECK_VALUE(numel_of(shape) == int64_t(data.size()), "tensor: ", data.size(),
                   " values do not fill shape ", shape_str(shape));
  auto holder = std::make_shared<std::vector<V>>(data);
  auto storage =
      std::make_shared<Storage>(holder->data(), holder->size() * sizeof(V), Device::cpu(),
                                [holder](void*) mutable { holder.reset(); });
  Tensor src_t(std::make_shared<TensorImpl>(storage, shape, contiguous_strides(shape), 0, src));
  Tensor out = empty(shape, TensorOptions(opt.dtype, opt.device));
  backend_for(OpId::Copy, opt.device).copy(src_t, out);
  return finish(out, opt);
}
}  // namespace

Tensor tensor(const std::vector<double>& data, const Shape& shape, TensorOptions opt) {
  return from_data(data, shape, opt, DType::Float64);
}
Tensor tensor(std::initializer_list<double> data, const Shape& shape, TensorOptions opt) {
  return from_data(std::vector<double>(data), shape, opt, DType::Float64);
}
Tensor tensor(const std::vector<int64_t>& data, const Shape& shape, TensorOptions opt) {
  return from_data(data, shape, opt, DType::Int64);
}

}  // namespace kiln
