#pragma once
// kiln::Tensor: a cheap, shared handle to a TensorImpl (storage + shape/strides/offset + dtype +
// device + autograd state). Copying a Tensor copies the handle, not the data, like PyTorch.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/device.h"
#include "kiln/dtype.h"
#include "kiln/error.h"
#include "kiln/scalar.h"
#include "kiln/shape.h"

namespace kiln {

class TensorImpl;
class Node;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- metadata ---
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const;
  int64_t numel() const;
  int64_t storage_offset() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  bool shares_storage(const Tensor& o) const;
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // --- raw data (CPU tensors; pointer to the first element of this view) ---
  void* data_ptr() const;
  template <class T>
  T* data() const {
    check_data_type(sizeof(T));
    return static_cast<T*>(data_ptr());
  }
  double item() const;  // one-element tensor as a number
  template <class T>
  T item() const {
    return static_cast<T>(item());
  }
  // All elements, converted to double, in row-major order (test and printing helper).
  std::vector<double> to_vector() const;
  std::string str() const;  // printed like PyTorch's repr

  // --- conversion and copies ---
  Tensor to(DType dtype) const;
  // non_blocking: a copy between a GPU and pinned host memory (pin_memory()) may return before
  // it ends, as torch's; reading a host result needs kiln::cuda::synchronize_device() first.
  Tensor to(Device device, bool non_blocking = false) const;
  Tensor to(Device device, DType dtype, bool non_blocking = false) const;
  Tensor cpu() const { return to(Device::cpu()); }
  // A copy of this CPU tensor in page-locked memory, from which copies to a GPU can be
  // asynchronous (itself when already pinned). Needs a CUDA device, like torch's.
  Tensor pin_memory() const;
  bool is_pinned() const;
  Tensor clone() const;
  Tensor contiguous() const;
  Tensor detach() const;  // shares storage, no history

  // --- autograd ---
  bool requires_grad() const;
  Tensor& requires_grad_(bool flag = true);
  bool is_leaf() const;
  Tensor grad() const;
  void set_grad(const Tensor& g);
  // Replaces this tensor's data (storage, shape, strides, offset, dtype) with `other`'s while
  // keeping the handle and its autograd state (requires_grad, .grad, hooks), like PyTorch's
  // `x.data = other`. Module::to uses it so that parameter handles held by layers and optimizers
  // stay valid. The version counter lives on the storage, so it is `other`'s from now on.
  void set_data(const Tensor& other);
  std::shared_ptr<Node> grad_fn() const;
  int output_nr() const;
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;
  // Hook called with the gradient flowing into this tensor; may return a replacement (or an
  // undefined Tensor to keep the gradient). Returns a handle for remove_hook.
  using Hook = std::function<Tensor(const Tensor&)>;
  int register_hook(Hook hook) const;
  void remove_hook(int handle) const;
  // Hook called on a leaf after a backward pass has accumulated its gradient into .grad (read
  // it with param.grad()), like torch 2.1's register_post_accumulate_grad_hook. DDP uses it to
  // start a bucket's all-reduce as soon as every gradient in it is ready. Leaves only.
  using PostAccumulateGradHook = std::function<void(const Tensor& param)>;
  int register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const;
  void remove_post_accumulate_grad_hook(int handle) const;
  void retain_grad() const;  // keep .grad on a non-leaf
  uint64_t version() const;  // bumped by every in-place op on the storage

  // --- views (share storage) ---
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor slice(int64_t dim, std::optional<int64_t> start = std::nullopt,
               std::optional<int64_t> end = std::nullopt, int64_t step = 1) const;
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.shape()); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

  // --- in-place ops (bump the version counter) ---
  Tensor& add_(const Tensor& other, Scalar alpha = 1);
  Tensor& add_(Scalar other);
  Tensor& sub_(const Tensor& other, Scalar alpha = 1);
  Tensor& sub_(Scalar other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(Scalar other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(Scalar other);
  Tensor& pow_(Scalar exponent);
  Tensor& neg_();
  Tensor& exp_();
  Tensor& sqrt_();
  Tensor& relu_();
  Tensor& sigmoid_();
  Tensor& tanh_();
  Tensor& clamp_(std::optional<double> min, std::optional<double> max);
  Tensor& masked_fill_(const Tensor& mask, Scalar value);
  Tensor& zero_();
  Tensor& fill_(Scalar value);
  Tensor& copy_(const Tensor& src);

  // --- common method forms of the functional ops (see ops.h) ---
  Tensor sum(bool keepdim = false) const;
  Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor pow(Scalar exponent) const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor matmul(const Tensor& other) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor argmax(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;

 private:
  void check_data_type(size_t element_bytes) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Arithmetic operators follow PyTorch (broadcasting, type promotion, autograd).
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, Scalar b);
Tensor operator<=(const Tensor& a, Scalar b);
Tensor operator>(const Tensor& a, Scalar b);
Tensor operator>=(const Tensor& a, Scalar b);

}  // namespace kiln
