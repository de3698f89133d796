#pragma once
// TensorImpl: the state behind a Tensor handle. Internal; the public API is kiln/tensor.h.
#include <map>
#include <memory>

#include "core/storage.h"
#include "kiln/tensor.h"

namespace kiln {

class Node;

// Autograd state of one tensor. Kept together so a tensor that never meets autograd pays for one
// null pointer only.
struct AutogradMeta {
  bool requires_grad = false;            // set on leaves by requires_grad_()
  std::shared_ptr<TensorImpl> grad;      // accumulated gradient (leaves, or retain_grad())
  std::shared_ptr<Node> grad_fn;         // the node that produced this tensor (non-leaves)
  int output_nr = 0;                     // which output of grad_fn this tensor is
  std::weak_ptr<Node> grad_accumulator;  // leaves: the AccumulateGrad node, made on demand
  std::map<int, Tensor::Hook> hooks;     // leaves: hooks run before accumulation
  // leaves: hooks run after accumulation into .grad (DDP's gradient-ready signal)
  std::map<int, Tensor::PostAccumulateGradHook> post_accumulate_hooks;
  int next_hook_id = 0;
  bool retains_grad = false;
};

class TensorImpl {
 public:
  TensorImpl(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset,
             DType dtype)
      : storage_(std::move(storage)),
        shape_(std::move(shape)),
        strides_(std::move(strides)),
        offset_(offset),
        dtype_(dtype) {}

  const std::shared_ptr<Storage>& storage() const { return storage_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_->device(); }
  int64_t numel() const { return numel_of(shape_); }
  bool is_contiguous() const;
  void* data() const {
    return static_cast<char*>(storage_->data()) + offset_ * int64_t(element_size(dtype_));
  }

  // A 0-d tensor made from a number in an expression; promotes like a Python number.
  // Shares its storage with the tensor it was viewed from (in-place ops that record history
  // are refused on views; see assign_inplace).
  bool is_view() const { return is_view_; }
  void set_view(bool v) { is_view_ = v; }
  // A 0-d tensor made from a number in an expression; promotes like a Python number.
  bool is_wrapped_number() const { return wrapped_number_; }
  void set_wrapped_number(bool v) { wrapped_number_ = v; }

  AutogradMeta* autograd() const { return autograd_.get(); }
  AutogradMeta& autograd_mut() {
    if (!autograd_) autograd_ = std::make_unique<AutogradMeta>();
    return *autograd_;
  }
  bool requires_grad() const {
    return autograd_ && (autograd_->requires_grad || autograd_->grad_fn != nullptr);
  }
  const std::shared_ptr<Node>& grad_fn() const {
    static const std::shared_ptr<Node> kNone;
    return autograd_ ? autograd_->grad_fn : kNone;
  }

  // Takes `other`'s storage and geometry, keeping this impl's autograd state (Tensor::set_data).
  // A cached gradient accumulator expects the old shape/dtype/device (it would cast new
  // gradients back), so it is dropped when those change; graphs built before keep theirs.
  void set_data(const TensorImpl& other) {
    if (autograd_ &&
        (other.shape_ != shape_ || other.dtype_ != dtype_ || other.device() != device())) {
      autograd_->grad_accumulator.reset();
    }
    storage_ = other.storage_;
    shape_ = other.shape_;
    strides_ = other.strides_;
    offset_ = other.offset_;
    dtype_ = other.dtype_;
    is_view_ = other.is_view_;
  }

  // Same storage, shape, strides and offset; no autograd state.
  std::shared_ptr<TensorImpl> shallow_copy() const {
    return std::make_shared<TensorImpl>(storage_, shape_, strides_, offset_, dtype_);
  }

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Shape strides_;
  int64_t offset_;
  DType dtype_;
  std::unique_ptr<AutogradMeta> autograd_;
  bool wrapped_number_ = false;
  bool is_view_ = false;
};

// A view of `base` with new geometry (shares the storage; no autograd state).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

}  // namespace kiln
