// Pooling modules (include/kiln/nn/pooling.h): thin wrappers over the functional pools that keep
// PyTorch's options and repr.
#include "kiln/nn/pooling.h"

#include <string>
#include <utility>

#include "kiln/error.h"
#include "kiln/nn/conv.h"
#include "nn/functional_window.h"

namespace kiln::nn {

namespace F = functional;

namespace {

std::string s2(const Size2& s) {
  if (s[0] == s[1]) return std::to_string(s[0]);
  return "(" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ")";
}

// torch prints None for an output size entry that keeps the input size.
std::string out2(const Size2& s) {
  auto one = [](int64_t v) { return v == -1 ? std::string("None") : std::to_string(v); };
  if (s[0] == s[1]) return one(s[0]);
  return "(" + one(s[0]) + ", " + one(s[1]) + ")";
}

int64_t or_kernel(int64_t stride, int64_t kernel) { return stride == 0 ? kernel : stride; }
Size2 or_kernel(Size2 stride, Size2 kernel) {
  return stride[0] == 0 && stride[1] == 0 ? kernel : stride;
}

}  // namespace

// ---------------- max pooling ----------------

MaxPool1d::MaxPool1d(int64_t kernel_size, int64_t stride, int64_t padding, int64_t dilation,
                     bool return_indices, bool ceil_mode)
    : Module("MaxPool1d"),
      kernel_size_(kernel_size),
      stride_(or_kernel(stride, kernel_size)),
      padding_(padding),
      dilation_(dilation),
      return_indices_(return_indices),
      ceil_mode_(ceil_mode) {}

Tensor MaxPool1d::forward(const Tensor& x) {
  return F::max_pool1d(x, kernel_size_, stride_, padding_, dilation_, ceil_mode_);
}

std::pair<Tensor, Tensor> MaxPool1d::forward_with_indices(const Tensor& x) {
  return F::max_pool1d_with_indices(x, kernel_size_, stride_, padding_, dilation_, ceil_mode_);
}

std::string MaxPool1d::extra_repr() const {
  return kiln::detail::concat("kernel_size=", kernel_size_, ", stride=", stride_,
                              ", padding=", padding_, ", dilation=", dilation_,
                              ", ceil_mode=", repr_bool(ceil_mode_));
}

MaxPool2d::MaxPool2d(Size2 kernel_size, Size2 stride, Size2 padding, Size2 dilation,
                     bool return_indices, bool ceil_mode)
    : Module("MaxPool2d"),
      kernel_size_(kernel_size),
      stride_(or_kernel(stride, kernel_size)),
      padding_(padding),
      dilation_(dilation),
      return_indices_(return_indices),
      ceil_mode_(ceil_mode) {}

Tensor MaxPool2d::forward(const Tensor& x) {
  return F::max_pool2d(x, kernel_size_, stride_, padding_, dilation_, ceil_mode_);
}

std::pair<Tensor, Tensor> MaxPool2d::forward_with_indices(const Tensor& x) {
  return F::max_pool2d_with_indices(x, kernel_size_, stride_, padding_, dilation_, ceil_mode_);
}

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + s2(kernel_size_) + ", stride=" + s2(stride_) +
         ", padding=" + s2(padding_) + ", dilation=" + s2(dilation_) +
         ", ceil_mode=" + repr_bool(ceil_mode_);
}

// ---------------- average pooling ----------------

AvgPool1d::AvgPool1d(int64_t kernel_size, int64_t stride, int64_t padding, bool ceil_mode,
                     bool count_include_pad)
    : Module("AvgPool1d"),
      kernel_size_(kernel_size),
      stride_(or_kernel(stride, kernel_size)),
      padding_(padding),
      ceil_mode_(ceil_mode),
      count_include_pad_(count_include_pad) {}

Tensor AvgPool1d::forward(const Tensor& x) {
  return F::avg_pool1d(x, kernel_size_, stride_, padding_, ceil_mode_, count_include_pad_);
}

std::string AvgPool1d::extra_repr() const {
  return kiln::detail::concat("kernel_size=(", kernel_size_, ",), stride=(", stride_,
                              ",), padding=(", padding_, ",)");
}

AvgPool2d::AvgPool2d(Size2 kernel_size, Size2 stride, Size2 padding, bool ceil_mode,
                     bool count_include_pad, std::optional<int64_t> divisor_override)
    : Module("AvgPool2d"),
      kernel_size_(kernel_size),
      stride_(or_kernel(stride, kernel_size)),
      padding_(padding),
      ceil_mode_(ceil_mode),
      count_include_pad_(count_include_pad),
      divisor_override_(divisor_override) {}

Tensor AvgPool2d::forward(const Tensor& x) {
  return F::avg_pool2d(x, kernel_size_, stride_, padding_, ceil_mode_, count_include_pad_,
                       divisor_override_);
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + s2(kernel_size_) + ", stride=" + s2(stride_) +
         ", padding=" + s2(padding_);
}

// ---------------- adaptive pooling ----------------

AdaptiveAvgPool1d::AdaptiveAvgPool1d(int64_t output_size)
    : Module("AdaptiveAvgPool1d"), output_size_(output_size) {}

Tensor AdaptiveAvgPool1d::forward(const Tensor& x) {
  return F::adaptive_avg_pool1d(x, output_size_);
}

std::string AdaptiveAvgPool1d::extra_repr() const {
  return "output_size=" + std::to_string(output_size_);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Size2 output_size)
    : Module("AdaptiveAvgPool2d"), output_size_(output_size) {}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  return F::adaptive_avg_pool2d(x, output_size_);
}

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + out2(output_size_); }

AdaptiveMaxPool2d::AdaptiveMaxPool2d(Size2 output_size, bool return_indices)
    : Module("AdaptiveMaxPool2d"), output_size_(output_size), return_indices_(return_indices) {}

Tensor AdaptiveMaxPool2d::forward(const Tensor& x) {
  return F::adaptive_max_pool2d(x, output_size_);
}

std::pair<Tensor, Tensor> AdaptiveMaxPool2d::forward_with_indices(const Tensor& x) {
  return F::adaptive_max_pool2d_with_indices(x, output_size_);
}

std::string AdaptiveMaxPool2d::extra_repr() const { return "output_size=" + out2(output_size_); }

// ---------------- unpooling ----------------

MaxUnpool2d::MaxUnpool2d(Size2 kernel_size, Size2 stride, Size2 padding)
    : Module("MaxUnpool2d"),
      kernel_size_(kernel_size),
      stride_(or_kernel(stride, kernel_size)),
      padding_(padding) {}

Tensor MaxUnpool2d::forward(const Tensor& x, const Tensor& indices,
                            std::optional<std::vector<int64_t>> output_size) {
  return F::max_unpool2d(x, indices, kernel_size_, stride_, padding_, std::move(output_size));
}

Tensor MaxUnpool2d::forward(const Tensor& /*x*/) {
  KILN_CHECK_VALUE(false,
                   "MaxUnpool2d: forward takes (input, indices[, output_size]); call it "
                   "with the indices from max_pool2d_with_indices");
  return {};
}

std::string MaxUnpool2d::extra_repr() const {
  return "kernel_size=" + s2(kernel_size_) + ", stride=" + s2(stride_) +
         ", padding=" + s2(padding_);
}

}  // namespace kiln::nn
