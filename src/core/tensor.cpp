// Tensor handle methods: metadata, raw access, autograd state, and method forms of the ops.
#include "kiln/tensor.h"

#include <cmath>

#include "autograd/function_node.h"
#include "backend/backend.h"
#include "core/tensor_impl.h"
#include "kiln/autograd.h"
#include "kiln/ops.h"
#include "ops/op_common.h"

namespace kiln {

namespace {
const TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  KILN_CHECK(impl != nullptr, "operation on an undefined tensor");
  return *impl;
}
}  // namespace

const Shape& Tensor::shape() const { return checked(impl_).shape(); }
const Shape& Tensor::strides() const { return checked(impl_).strides(); }
int64_t Tensor::size(int64_t d) const {
  KILN_CHECK_VALUE(dim() > 0, "size: a 0-d tensor has no dimension ", d);
  return shape()[size_t(wrap_dim("size", d, shape()))];
}
int64_t Tensor::stride(int64_t d) const {
  KILN_CHECK_VALUE(dim() > 0, "stride: a 0-d tensor has no dimension ", d);
  return strides()[size_t(wrap_dim("stride", d, shape()))];
}
int64_t Tensor::dim() const { return int64_t(shape().size()); }
int64_t Tensor::numel() const { return checked(impl_).numel(); }
int64_t Tensor::storage_offset() const { return checked(impl_).offset(); }
DType Tensor::dtype() const { return checked(impl_).dtype(); }
Device Tensor::device() const { return checked(impl_).device(); }
bool Tensor::is_contiguous() const { return checked(impl_).is_contiguous(); }
bool Tensor::shares_storage(const Tensor& o) const {
  return defined() && o.defined() && impl_->storage() == o.impl_->storage();
}
void* Tensor::data_ptr() const { return checked(impl_).data(); }
uint64_t Tensor::version() const { return checked(impl_).storage()->version(); }

void Tensor::check_data_type(size_t element_bytes) const {
  KILN_CHECK_TYPE(element_size(dtype()) == element_bytes, "data<T>(): element type of size ",
                  element_bytes, " does not match the tensor's dtype ", dtype_name(dtype()));
  KILN_CHECK(device().is_cpu(), "data<T>(): the tensor is on ", device().str(),
             "; copy it to the CPU first");
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = to(Device::cpu(), DType::Float64).contiguous();
  const double* p = static_cast<const double*>(c.data_ptr());
  return std::vector<double>(p, p + c.numel());
}

double Tensor::item() const {
  KILN_CHECK_VALUE(numel() == 1, "item: a tensor with ", numel(), " elements (shape ",
                   shape_str(shape()), ") cannot be converted to a number");
  return to_vector()[0];
}

Tensor Tensor::to(DType t) const { return to_dtype(*this, t); }
// to(Device[, DType], non_blocking) are in ops/copy.cpp with the device copy.
Tensor Tensor::clone() const { return kiln::clone(*this); }
Tensor Tensor::contiguous() const { return kiln::contiguous(*this); }

Tensor Tensor::detach() const { return Tensor(checked(impl_).shallow_copy()); }

// ---------------- autograd ----------------
bool Tensor::requires_grad() const { return checked(impl_).requires_grad(); }
bool Tensor::is_leaf() const { return checked(impl_).grad_fn() == nullptr; }
std::shared_ptr<Node> Tensor::grad_fn() const { return checked(impl_).grad_fn(); }
int Tensor::output_nr() const {
  auto* m = checked(impl_).autograd();
  return m ? m->output_nr : 0;
}

Tensor& Tensor::requires_grad_(bool flag) {
  KILN_CHECK(is_leaf() || flag,
             "requires_grad_: can only change requires_grad of leaf "
             "tensors; use detach() to get a tensor without history");
  KILN_CHECK_TYPE(!flag || is_floating(dtype()),
                  "requires_grad_: only floating point tensors can require gradients, got ",
                  dtype_name(dtype()));
  impl_->autograd_mut().requires_grad = flag;
  return *this;
}

Tensor Tensor::grad() const {
  auto* m = checked(impl_).autograd();
  return m && m->grad ? Tensor(m->grad) : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  if (g.defined()) {
    KILN_CHECK_VALUE(g.shape() == shape(), "set_grad: gradient of shape ", shape_str(g.shape()),
                     " for a tensor of shape ", shape_str(shape()));
    // Later backward passes accumulate into .grad and optimizers read it with the parameter's
    // type: a gradient of another dtype or device would be used silently (torch refuses too).
    KILN_CHECK_TYPE(g.dtype() == dtype(), "set_grad: gradient of dtype ", dtype_name(g.dtype()),
                    " for a tensor of dtype ", dtype_name(dtype()));
    KILN_CHECK_VALUE(g.device() == device(), "set_grad: gradient on ", g.device().str(),
                     " for a tensor on ", device().str());
  }
  impl_->autograd_mut().grad = g.impl_ptr();
}

void Tensor::set_data(const Tensor& other) {
  checked(impl_);
  KILN_CHECK(other.defined(), "set_data: the new data is an undefined tensor");
  KILN_CHECK_TYPE(!requires_grad() || is_floating(other.dtype()),
                  "set_data: a tensor that requires grad needs floating point data, got ",
                  dtype_name(other.dtype()));
  impl_->set_data(*other.impl_);
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  autograd::backward({*this},
                     gradient.defined() ? std::vector<Tensor>{gradient} : std::vector<Tensor>{},
                     retain_graph, create_graph);
}

int Tensor::register_hook(Hook hook) const {
  KILN_CHECK(requires_grad(),
             "register_hook: cannot register a hook on a tensor that does not "
             "require grad");
  auto& meta = impl_->autograd_mut();
  if (meta.grad_fn) return meta.grad_fn->add_pre_hook(meta.output_nr, std::move(hook)) * 2 + 1;
  int id = meta.next_hook_id++;
  meta.hooks[id] = std::move(hook);
  return id * 2;  // even handles: leaf hooks; odd: node pre-hooks
}

void Tensor::remove_hook(int handle) const {
  auto& meta = impl_->autograd_mut();
  if (handle % 2 == 1) {
    if (meta.grad_fn) meta.grad_fn->remove_pre_hook(handle / 2);
  } else {
    meta.hooks.erase(handle / 2);
  }
}

int Tensor::register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const {
  KILN_CHECK(requires_grad(),
             "register_post_accumulate_grad_hook: cannot register a hook on a tensor that does "
             "not require grad");
  KILN_CHECK(is_leaf(),
             "register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
             "registered on non-leaf tensors");
  auto& meta = impl_->autograd_mut();
  int id = meta.next_hook_id++;
  meta.post_accumulate_hooks[id] = std::move(hook);
  return id;
}

void Tensor::remove_post_accumulate_grad_hook(int handle) const {
  if (AutogradMeta* meta = impl_->autograd()) meta->post_accumulate_hooks.erase(handle);
}

void Tensor::retain_grad() const {
  KILN_CHECK(requires_grad(), "retain_grad: the tensor does not require grad");
  auto& meta = impl_->autograd_mut();
  if (!meta.grad_fn || meta.retains_grad) return;  // leaves keep .grad anyway
  meta.retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_;
  meta.grad_fn->add_pre_hook(meta.output_nr, [weak](const Tensor& g) {
    if (auto impl = weak.lock()) {
      auto& m = impl->autograd_mut();
      NoGradGuard no_grad;
      m.grad = m.grad ? add(Tensor(m.grad), g).impl_ptr() : g.detach().clone().impl_ptr();
    }
    return Tensor();
  });
}

// ---------------- views ----------------
Tensor Tensor::view(const Shape& s) const { return kiln::view(*this, s); }
Tensor Tensor::reshape(const Shape& s) const { return kiln::reshape(*this, s); }
Tensor Tensor::permute(const std::vector<int64_t>& d) const { return kiln::permute(*this, d); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return kiln::transpose(*this, a, b); }
Tensor Tensor::t() const {
  KILN_CHECK_VALUE(dim() <= 2, "t: expects a tensor with <= 2 dimensions, got shape ",
                   shape_str(shape()));
  return dim() < 2 ? *this : transpose(0, 1);
}
Tensor Tensor::narrow(int64_t d, int64_t s, int64_t l) const {
  return kiln::narrow(*this, d, s, l);
}
Tensor Tensor::select(int64_t d, int64_t i) const { return kiln::select(*this, d, i); }
Tensor Tensor::slice(int64_t d, std::optional<int64_t> s, std::optional<int64_t> e,
                     int64_t step) const {
  return kiln::slice(*this, d, s, e, step);
}
Tensor Tensor::expand(const Shape& s) const { return kiln::expand(*this, s); }
Tensor Tensor::squeeze() const { return kiln::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return kiln::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return kiln::unsqueeze(*this, d); }
Tensor Tensor::flatten(int64_t s, int64_t e) const { return kiln::flatten(*this, s, e); }

// ---------------- method forms ----------------
Tensor Tensor::sum(bool keepdim) const { return kiln::sum(*this, {}, keepdim); }
Tensor Tensor::sum(const std::vector<int64_t>& d, bool keepdim) const {
  return kiln::sum(*this, d, keepdim);
}
Tensor Tensor::mean() const { return kiln::mean(*this); }
Tensor Tensor::mean(const std::vector<int64_t>& d, bool keepdim) const {
  return kiln::mean(*this, d, keepdim);
}
Tensor Tensor::exp() const { return kiln::exp(*this); }
Tensor Tensor::log() const { return kiln::log(*this); }
Tensor Tensor::sqrt() const { return kiln::sqrt(*this); }
Tensor Tensor::abs() const { return kiln::abs(*this); }
Tensor Tensor::pow(Scalar e) const { return kiln::pow(*this, e); }
Tensor Tensor::relu() const { return kiln::relu(*this); }
Tensor Tensor::sigmoid() const { return kiln::sigmoid(*this); }
Tensor Tensor::tanh() const { return kiln::tanh(*this); }
Tensor Tensor::matmul(const Tensor& o) const { return kiln::matmul(*this, o); }
Tensor Tensor::softmax(int64_t d) const { return kiln::softmax(*this, d); }
Tensor Tensor::log_softmax(int64_t d) const { return kiln::log_softmax(*this, d); }
Tensor Tensor::argmax(std::optional<int64_t> d, bool keepdim) const {
  return kiln::argmax(*this, d, keepdim);
}

// ---------------- operators ----------------
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, Scalar b) { return add(a, wrapped_scalar(b, a.device())); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, wrapped_scalar(b, a.device())); }
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, wrapped_scalar(b, a.device())); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, wrapped_scalar(b, a.device())); }
Tensor operator+(Scalar a, const Tensor& b) { return add(wrapped_scalar(a, b.device()), b); }
Tensor operator-(Scalar a, const Tensor& b) { return sub(wrapped_scalar(a, b.device()), b); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(wrapped_scalar(a, b.device()), b); }
Tensor operator/(Scalar a, const Tensor& b) { return div(wrapped_scalar(a, b.device()), b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator<(const Tensor& a, Scalar b) { return lt(a, wrapped_scalar(b, a.device())); }
Tensor operator<=(const Tensor& a, Scalar b) { return le(a, wrapped_scalar(b, a.device())); }
Tensor operator>(const Tensor& a, Scalar b) { return gt(a, wrapped_scalar(b, a.device())); }
Tensor operator>=(const Tensor& a, Scalar b) { return ge(a, wrapped_scalar(b, a.device())); }

}  // namespace kiln
