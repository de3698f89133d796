// Copies and conversions (to, clone, contiguous) and the in-place methods of Tensor.
#include "ops/op_common.h"

namespace kiln {

Tensor to_dtype(const Tensor& x, DType dtype) {
  check_defined("to", {&x});
  if (x.dtype() == dtype) return x;
  Tensor out = cast_raw(x, dtype);
  if (should_record({&x}) && is_floating(dtype)) {
    DType from = x.dtype();
    record("ToCopyBackward0", {x}, {out}, [from](FunctionNode&, const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].to(from)};
    });
  }
  return out;
}

Tensor to_device(const Tensor& x, Device device) {
  check_defined("to", {&x});
  if (x.device() == device) return x;
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), device));
  // The non-CPU side does host <-> device copies.
  Device copier = device.is_cpu() ? x.device() : device;
  backend_for(OpId::Copy, copier).copy(x, out);
  if (should_record({&x})) {
    Device from = x.device();
    record("ToCopyBackward0", {x}, {out}, [from](FunctionNode&, const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].to(from)};
    });
  }
  return out;
}

Tensor clone(const Tensor& x) {
  check_defined("clone", {&x});
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  backend_for(OpId::Copy, x.device()).copy(x, out);
  if (should_record({&x})) {
    record("CloneBackward0", {x}, {out},
           [](FunctionNode&, const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
  }
  return out;
}

Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : clone(x); }

Tensor& assign_inplace(Tensor& self, const Tensor& value, const char* op) {
  KILN_CHECK_VALUE(broadcast_shapes(op, self.shape(), value.shape()) == self.shape(), op,
                   ": the result of shape ", shape_str(value.shape()),
                   " does not fit in place into a tensor of shape ", shape_str(self.shape()));
  const bool record_history = GradMode::is_enabled() && value.requires_grad();
  if (GradMode::is_enabled() && self.requires_grad()) {
    KILN_CHECK(!self.is_leaf(), op, ": a leaf tensor that requires grad (", describe(self),
               ") cannot be modified in place; wrap the update in NoGradGuard");
  }
  if (record_history) {
    KILN_CHECK(!self.impl()->is_view(), op,
               ": in-place operation on a view while recording gradients is not supported; "
               "compute the result out of place instead (shape ",
               shape_str(self.shape()), ")");
    KILN_CHECK_TYPE(is_floating(self.dtype()), op,
                    ": cannot write a result that requires grad "
                    "into a ",
                    dtype_name(self.dtype()), " tensor");
  }
  check_same_device(op, {&self, &value});
  Tensor src = value;
  if (record_history && (src.shape() != self.shape() || src.dtype() != self.dtype()))
    src = expand(src, self.shape()).to(self.dtype());
  if (record_history && src.is_leaf()) src = clone(src);  // self needs a node of its own
  backend_for(OpId::Copy, self.device()).copy(broadcast_view(src.detach(), self.shape()), self);
  self.impl()->storage()->bump_version();
  if (record_history) {
    auto& meta = self.impl()->autograd_mut();
    meta.grad_fn = src.grad_fn();
    meta.output_nr = src.output_nr();
  }
  return self;
}

namespace {
// The input an in-place op computes from: a differentiable clone when history is recorded, so
// the graph keeps the pre-modification values (see assign_inplace).
Tensor inplace_source(const Tensor& self, std::initializer_list<const Tensor*> others) {
  bool rec = GradMode::is_enabled() && self.requires_grad();
  for (const Tensor* o : others) rec = rec || should_record({o});
  return rec ? clone(self) : self;
}
}  // namespace

Tensor& Tensor::add_(const Tensor& o, Scalar alpha) {
  return assign_inplace(*this, add(inplace_source(*this, {&o}), o, alpha), "add_");
}
Tensor& Tensor::add_(Scalar o) { return add_(wrapped_scalar(o, device())); }
Tensor& Tensor::sub_(const Tensor& o, Scalar alpha) {
  return assign_inplace(*this, sub(inplace_source(*this, {&o}), o, alpha), "sub_");
}
Tensor& Tensor::sub_(Scalar o) { return sub_(wrapped_scalar(o, device())); }
Tensor& Tensor::mul_(const Tensor& o) {
  return assign_inplace(*this, mul(inplace_source(*this, {&o}), o), "mul_");
}
Tensor& Tensor::mul_(Scalar o) { return mul_(wrapped_scalar(o, device())); }
Tensor& Tensor::div_(const Tensor& o) {
  return assign_inplace(*this, div(inplace_source(*this, {&o}), o), "div_");
}
Tensor& Tensor::div_(Scalar o) { return div_(wrapped_scalar(o, device())); }
Tensor& Tensor::pow_(Scalar e) {
  return assign_inplace(*this, kiln::pow(inplace_source(*this, {}), e), "pow_");
}
Tensor& Tensor::neg_() { return assign_inplace(*this, neg(inplace_source(*this, {})), "neg_"); }
Tensor& Tensor::exp_() {
  return assign_inplace(*this, kiln::exp(inplace_source(*this, {})), "exp_");
}
Tensor& Tensor::sqrt_() {
  return assign_inplace(*this, kiln::sqrt(inplace_source(*this, {})), "sqrt_");
}
Tensor& Tensor::relu_() {
  return assign_inplace(*this, kiln::relu(inplace_source(*this, {})), "relu_");
}
Tensor& Tensor::sigmoid_() {
  return assign_inplace(*this, kiln::sigmoid(inplace_source(*this, {})), "sigmoid_");
}
Tensor& Tensor::tanh_() {
  return assign_inplace(*this, kiln::tanh(inplace_source(*this, {})), "tanh_");
}
Tensor& Tensor::clamp_(std::optional<double> lo, std::optional<double> hi) {
  return assign_inplace(*this, clamp(inplace_source(*this, {}), lo, hi), "clamp_");
}
Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar value) {
  return assign_inplace(*this, masked_fill(inplace_source(*this, {}), mask, value), "masked_fill_");
}
Tensor& Tensor::zero_() { return fill_(0); }
Tensor& Tensor::fill_(Scalar value) {
  return assign_inplace(*this, full({}, value, dtype(), device()), "fill_");
}
Tensor& Tensor::copy_(const Tensor& src) {
  check_defined("copy_", {&src});
  Tensor s = src.device() == device() ? src : src.to(device());
  return assign_inplace(*this, s, "copy_");
}

}  // namespace kiln
