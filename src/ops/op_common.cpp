#include "ops/op_common.h"

#include "kiln/memory_format.h"

namespace kiln {

namespace {
int category(DType t) { return t == DType::Bool ? 0 : is_floating(t) ? 2 : 1; }

// A channels-last [N, C, S...] operand seen in its storage order [N, S..., C] (no autograd):
// with every operand of an elementwise kernel permuted alike, a channels-last result and
// inputs are contiguous to the kernel, which then takes its contiguous (vectorised) path.
Tensor storage_order_view(const Tensor& t) {
  Shape shape{t.size(0)}, strides{t.stride(0)};
  for (int64_t d = 2; d < t.dim(); ++d) {
    shape.push_back(t.size(d));
    strides.push_back(t.stride(d));
  }
  shape.push_back(t.size(1));
  strides.push_back(t.stride(1));
  return make_view(t, shape, strides, t.storage_offset());
}
}  // namespace

Tensor wrapped_scalar(Scalar value, Device device) {
  DType dt = value.is_floating()                 ? DType::Float64
             : value.kind() == Scalar::Kind::Int ? DType::Int64
                                                 : DType::Bool;
  Tensor t = empty({}, TensorOptions(dt, device));
  backend_for(OpId::Fill, device).fill(t, value);
  t.impl()->set_wrapped_number(true);
  return t;
}

bool is_wrapped_scalar(const Tensor& t) { return t.impl()->is_wrapped_number(); }

DType result_type(std::initializer_list<const Tensor*> operands) {
  std::optional<DType> dim_result, zero_result, wrapped_result;
  auto merge = [](std::optional<DType>& r, DType t) { r = r ? promote_types(*r, t) : t; };
  for (const Tensor* t : operands) {
    if (!t->defined()) continue;
    DType dt = t->dtype();
    if (is_wrapped_scalar(*t)) {
      merge(wrapped_result, is_floating(dt) ? kDefaultFloat : dt);
    } else if (t->dim() == 0) {
      merge(zero_result, dt);
    } else {
      merge(dim_result, dt);
    }
  }
  // PyTorch's combine_categories: a lower-priority group only matters if its category is higher.
  auto combine = [](std::optional<DType> higher,
                    std::optional<DType> lower) -> std::optional<DType> {
    if (!higher) return lower;
    if (!lower) return higher;
    if (category(*lower) > category(*higher)) return promote_types(*higher, *lower);
    return higher;
  };
  auto r = combine(dim_result, combine(zero_result, wrapped_result));
  return r.value_or(kDefaultFloat);
}

std::string describe(const Tensor& t) {
  return shape_str(t.shape()) + " " + dtype_name(t.dtype()) + " on " + t.device().str();
}

void check_defined(const char* op, std::initializer_list<const Tensor*> ts) {
  int i = 0;
  for (const Tensor* t : ts) {
    KILN_CHECK_VALUE(t->defined(), op, ": argument ", i, " is an undefined tensor");
    ++i;
  }
}

void check_same_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    // Numbers written in the expression follow the tensor's device.
    if (is_wrapped_scalar(*t) || is_wrapped_scalar(*first)) continue;
    KILN_CHECK(t->device() == first->device(), op,
               ": expected all tensors on the same device, got ", describe(*first), " and ",
               describe(*t));
  }
}

void check_floating(const char* op, const Tensor& t) {
  KILN_CHECK_TYPE(is_floating(t.dtype()), op, ": expected a floating point tensor, got ",
                  describe(t));
}

Tensor broadcast_view(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const size_t nd = shape.size(), td = t.shape().size();
  Shape strides(nd, 0);
  for (size_t i = 0; i < td; ++i) {
    size_t o = nd - td + i;
    strides[o] = t.shape()[i] == 1 && shape[o] != 1 ? 0 : t.strides()[i];
  }
  return make_view(t, shape, strides, t.storage_offset());
}

Tensor cast_raw(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  // In t's memory format, as torch's to(dtype) (preserve_format): channels-last stays so.
  Tensor out = empty_like(t, TensorOptions(dtype, t.device()), MemoryFormat::Preserve);
  backend_for(OpId::Copy, t.device()).copy(t, out);
  return out;
}

Tensor unary_raw(OpId op, const Tensor& x, DType compute, DType out_dtype, const OpParams& p) {
  Backend& be = backend_for(op, x.device());
  Tensor in = cast_raw(x, compute);
  const MemoryFormat fmt = elementwise_memory_format(x.shape(), {&x});
  Tensor out = empty(x.shape(), TensorOptions(out_dtype, x.device()), fmt);
  if (fmt == MemoryFormat::Contiguous)
    be.unary(op, in, out, p);
  else
    be.unary(op, storage_order_view(in), storage_order_view(out), p);
  return out;
}

Tensor binary_raw(OpId op, const Tensor& a, const Tensor& b, DType compute, DType out_dtype) {
  const char* name = op_name(op);
  check_same_device(name, {&a, &b});
  Device dev = is_wrapped_scalar(a) ? b.device() : a.device();
  Backend& be = backend_for(op, dev);
  Shape shape = broadcast_shapes(name, a.shape(), b.shape());
  auto prepare = [&](const Tensor& t) {
    Tensor c = cast_raw(t.device() == dev ? t : t.to(dev), compute);
    return broadcast_view(c, shape);
  };
  const MemoryFormat fmt = elementwise_memory_format(shape, {&a, &b});
  Tensor out = empty(shape, TensorOptions(out_dtype, dev), fmt);
  if (fmt == MemoryFormat::Contiguous)
    be.binary(op, prepare(a), prepare(b), out);
  else
    be.binary(op, storage_order_view(prepare(a)), storage_order_view(prepare(b)),
              storage_order_view(out));
  return out;
}

}  // namespace kiln
