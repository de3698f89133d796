#include "core/tensor_impl.h"

namespace kiln {

bool TensorImpl::is_contiguous() const {
  // An empty tensor has no element to misplace: contiguous whatever its strides (as PyTorch),
  // so kernels that require contiguous outputs accept e.g. the [2, 0, 3] result of a bmm.
  for (int64_t s : shape_) {
    if (s == 0) return true;
  }
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  KILN_CHECK_VALUE(shape.size() <= kMaxTensorDims, "view: ", shape.size(),
                   " dimensions requested; tensors have at most ", kMaxTensorDims);
  auto impl = std::make_shared<TensorImpl>(base.impl()->storage(), std::move(shape),
                                           std::move(strides), offset, base.dtype());
  impl->set_view(true);
  return Tensor(impl);
}

}  // namespace kiln
