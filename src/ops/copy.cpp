// Copies and conversions (to, clone, contiguous, pin_memory) and the in-place methods of Tensor.
#include "core/tensor_impl.h"
#include "kiln/memory_format.h"
#include "ops/op_common.h"

#ifdef KILN_WITH_CUDA
#include "runtime/pinned.h"
#endif

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

namespace {
Tensor to_device_impl(const Tensor& x, Device device, bool non_blocking) {
  check_defined("to", {&x});
  if (x.device() == device) return x;
  // A result in pageable memory: a non_blocking copy from a GPU into it is a plain one (torch
  // would pin the result; an asynchronous write into a tensor the caller may read at once is a
  // trap Kiln does not set). Pinned sources make host -> device copies asynchronous.
  // In x's memory format, as torch's to(device) (preserve_format).
  Tensor out = empty_like(x, TensorOptions(x.dtype(), device), MemoryFormat::Preserve);
  // The non-CPU side does host <-> device copies.
  Device copier = device.is_cpu() ? x.device() : device;
  Backend& b = backend_for(OpId::Copy, copier);
  if (non_blocking) {
    b.copy_non_blocking(x, out);
  } else {
    b.copy(x, out);
  }
  if (should_record({&x})) {
    Device from = x.device();
    record("ToCopyBackward0", {x}, {out}, [from](FunctionNode&, const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].to(from)};
    });
  }
  return out;
}
}  // namespace

Tensor to_device(const Tensor& x, Device device) { return to_device_impl(x, device, false); }

Tensor Tensor::to(Device d, bool non_blocking) const {
  return to_device_impl(*this, d, non_blocking);
}
Tensor Tensor::to(Device d, DType t, bool non_blocking) const {
  return to_dtype(to_device_impl(*this, d, non_blocking), t);
}

bool Tensor::is_pinned() const {
  check_defined("is_pinned", {this});
#ifdef KILN_WITH_CUDA
  return device().is_cpu() && cuda::is_pinned_pointer(impl()->storage()->data());
#else
  return false;
#endif
}

Tensor Tensor::pin_memory() const {
  check_defined("pin_memory", {this});
  KILN_CHECK(device().is_cpu(), "pin_memory: only CPU tensors can be pinned, got ",
             describe(*this));
#ifdef KILN_WITH_CUDA
  if (is_pinned()) return *this;
  const size_t nbytes = size_t(numel()) * element_size(dtype());
  auto storage = cuda::allocate_pinned_storage(nbytes, "pin_memory");
  Tensor out(std::make_shared<TensorImpl>(std::move(storage), shape(), contiguous_strides(shape()),
                                          0, dtype()));
  backend(Device::cpu()).copy(*this, out);
  if (should_record({this})) {
    record("PinMemoryBackward0", {*this}, {out},
           [](FunctionNode&, const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
  }
  return out;
#else
  throw Error(
      detail::concat("pin_memory: this build of Kiln has no CUDA backend, and pinned "
                     "memory needs a CUDA device (",
                     describe(*this), ")"));
#endif
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

namespace {

// Whether a result of dtype `from` may be written into a tensor of dtype `to` (PyTorch's
// can_cast: no floating values into integers, no numbers into bool).
bool can_cast(DType from, DType to) {
  if (is_floating(from) && !is_floating(to)) return false;
  return from == DType::Bool || to != DType::Bool;
}

// True when two elements of `t` share one memory location (an expanded dimension).
bool has_aliased_elements(const Tensor& t) {
  for (size_t d = 0; d < t.shape().size(); ++d)
    if (t.shape()[d] > 1 && t.strides()[d] == 0) return true;
  return false;
}

}  // namespace

Tensor& assign_inplace(Tensor& self, const Tensor& value, const char* op) {
  check_defined(op, {&self, &value});
  KILN_CHECK_VALUE(broadcasts_to(value.shape(), self.shape()), op, ": the result of shape ",
                   shape_str(value.shape()), " does not fit in place into a tensor of shape ",
                   shape_str(self.shape()));
  KILN_CHECK_TYPE(can_cast(value.dtype(), self.dtype()), op, ": the result type ",
                  dtype_name(value.dtype()), " cannot be written into ", describe(self));
  KILN_CHECK(!has_aliased_elements(self), op, ": several elements of the written-to tensor (",
             describe(self), ", strides ", shape_str(self.strides()),
             ") share one memory location; clone it first");
  check_same_device(op, {&self, &value});
  const bool grad_on = GradMode::is_enabled();
  if (grad_on && self.requires_grad()) {
    KILN_CHECK(!self.is_leaf(), op, ": a leaf tensor that requires grad (", describe(self),
               ") cannot be modified in place; wrap the update in NoGradGuard");
  }
  const bool record_history = grad_on && (value.requires_grad() || self.requires_grad());
  if (record_history) {
    KILN_CHECK(!self.impl()->is_view(), op,
               ": in-place operation on a view while recording gradients is not supported; "
               "compute the result out of place instead (",
               describe(self), ")");
    KILN_CHECK(!self.impl()->storage()->has_views_with_history(), op,
               ": in-place operation on a tensor whose views record gradients is not "
               "supported (their gradients would go stale); compute the result out of place "
               "instead (",
               describe(self), ")");
    KILN_CHECK_TYPE(is_floating(self.dtype()), op,
                    ": cannot write a result that requires grad into ", describe(self));
  }

  Tensor data = value.detach();
  if (data.shares_storage(self)) data = data.clone();  // never read what is being written
  backend_for(OpId::Copy, self.device()).copy(broadcast_view(data, self.shape()), self);
  self.impl()->storage()->bump_version();
  if (!record_history) return self;

  // Self gets a node of its own. It passes the gradient to `value` (which was computed from a
  // clone of the old self, see inplace_operands), or, when a constant overwrote self, sends
  // zero to the old history, like PyTorch's fill_.
  if (value.requires_grad()) {
    record("CopyBackwards", {value}, {self},
           [](FunctionNode&, const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
  } else {
    Tensor old(self.impl()->shallow_copy());
    auto& meta = old.impl()->autograd_mut();
    meta.grad_fn = self.grad_fn();
    meta.output_nr = self.output_nr();
    record("FillBackward0", {old}, {self}, [](FunctionNode&, const std::vector<Tensor>& g) {
      return std::vector<Tensor>{zeros_like(g[0])};
    });
  }
  return self;
}

namespace {
// The operands an in-place op computes from. When history is recorded, self is replaced by a
// differentiable clone, so the graph keeps the values from before the write; an operand that
// shares self's storage is cloned too, so that no saved tensor is overwritten.
std::pair<Tensor, Tensor> inplace_operands(const Tensor& self, const Tensor& other = Tensor()) {
  bool rec = GradMode::is_enabled() && (self.requires_grad() || should_record({&other}));
  if (!rec) return {self, other};
  Tensor o = other.defined() && other.shares_storage(self) ? clone(other) : other;
  return {clone(self), o};
}
}  // namespace

Tensor& Tensor::add_(const Tensor& o, Scalar alpha) {
  auto [base, other] = inplace_operands(*this, o);
  return assign_inplace(*this, add(base, other, alpha), "add_");
}
Tensor& Tensor::add_(Scalar o) { return add_(wrapped_scalar(o, device())); }
Tensor& Tensor::sub_(const Tensor& o, Scalar alpha) {
  auto [base, other] = inplace_operands(*this, o);
  return assign_inplace(*this, sub(base, other, alpha), "sub_");
}
Tensor& Tensor::sub_(Scalar o) { return sub_(wrapped_scalar(o, device())); }
Tensor& Tensor::mul_(const Tensor& o) {
  auto [base, other] = inplace_operands(*this, o);
  return assign_inplace(*this, mul(base, other), "mul_");
}
Tensor& Tensor::mul_(Scalar o) { return mul_(wrapped_scalar(o, device())); }
Tensor& Tensor::div_(const Tensor& o) {
  auto [base, other] = inplace_operands(*this, o);
  return assign_inplace(*this, div(base, other), "div_");
}
Tensor& Tensor::div_(Scalar o) { return div_(wrapped_scalar(o, device())); }
Tensor& Tensor::pow_(Scalar e) {
  return assign_inplace(*this, kiln::pow(inplace_operands(*this).first, e), "pow_");
}
Tensor& Tensor::neg_() { return assign_inplace(*this, neg(inplace_operands(*this).first), "neg_"); }
Tensor& Tensor::exp_() {
  return assign_inplace(*this, kiln::exp(inplace_operands(*this).first), "exp_");
}
Tensor& Tensor::sqrt_() {
  return assign_inplace(*this, kiln::sqrt(inplace_operands(*this).first), "sqrt_");
}
Tensor& Tensor::relu_() {
  return assign_inplace(*this, kiln::relu(inplace_operands(*this).first), "relu_");
}
Tensor& Tensor::sigmoid_() {
  return assign_inplace(*this, kiln::sigmoid(inplace_operands(*this).first), "sigmoid_");
}
Tensor& Tensor::tanh_() {
  return assign_inplace(*this, kiln::tanh(inplace_operands(*this).first), "tanh_");
}
Tensor& Tensor::clamp_(std::optional<double> lo, std::optional<double> hi) {
  return assign_inplace(*this, clamp(inplace_operands(*this).first, lo, hi), "clamp_");
}
Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar value) {
  return assign_inplace(*this, masked_fill(inplace_operands(*this).first, mask, value),
                        "masked_fill_");
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
