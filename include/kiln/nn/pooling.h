#pragma once
// The rest of the pooling family (torch.nn.functional / torch.nn, PyTorch 1.13): 1-D max and
// average pooling, adaptive average and max pooling, max unpooling, and the pooling modules
// (MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d, AdaptiveMaxPool2d, MaxUnpool2d).
//
// The functions are composites of Kiln ops (index_select / scatter with host-built, cached index
// tensors, then max or sum), so they record autograd history (double backward included) and run
// on any backend with those kernels. The 1-D pools go through the 2-D ones of kiln/nn/conv.h on
// a height-1 view. Inputs may be batched or unbatched ([N, C, L] or [C, L]; [N, C, H, W] or
// [C, H, W]); an unbatched input gives an unbatched result. Bad arguments raise kiln::ValueError
// naming the function, the input size and the kernel / stride / padding / dilation at fault.
//
// Adaptive windows follow PyTorch: output i of a dim of size `in` pooled to `out` covers
// [floor(i * in / out), ceil((i + 1) * in / out)).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/nn/conv.h"
#include "kiln/nn/module.h"
#include "kiln/tensor.h"

namespace kiln::nn::functional {

// ---------------- 1-D pooling (src/nn/functional_pool_extra.cpp) ----------------
// stride 0 means stride = kernel_size. padding must be at most half the kernel size.
Tensor max_pool1d(const Tensor& input, int64_t kernel_size, int64_t stride = 0, int64_t padding = 0,
                  int64_t dilation = 1, bool ceil_mode = false);
// {values, indices}: indices (int64) are positions along the length, as torch returns them.
std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& input, int64_t kernel_size,
                                                  int64_t stride = 0, int64_t padding = 0,
                                                  int64_t dilation = 1, bool ceil_mode = false);
Tensor avg_pool1d(const Tensor& input, int64_t kernel_size, int64_t stride = 0, int64_t padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true);

// ---------------- adaptive pooling ----------------
// output_size entries must be >= 0 (0 gives an empty result); in the 2-D functions an entry of
// -1 keeps that input size (torch's None).
Tensor adaptive_avg_pool1d(const Tensor& input, int64_t output_size);
Tensor adaptive_avg_pool2d(const Tensor& input, Size2 output_size);
Tensor adaptive_max_pool2d(const Tensor& input, Size2 output_size);
// {values, indices}: indices are flat positions h * W + w within each input plane; the first
// maximum of each window in row-major order wins (and takes the gradient), as in PyTorch.
std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input, Size2 output_size);

// ---------------- unpooling ----------------
// Places input[n, c, i] at flat position indices[n, c, i] of an output plane, zeros elsewhere
// (the inverse of max_pool2d_with_indices). The output size defaults to
// (in - 1) * stride - 2 * padding + kernel_size; output_size, {H, W} or {N, C, H, W}, may pick
// another within stride of it (exclusive), as torch's F.max_unpool2d. stride {0, 0} means the
// kernel size.
Tensor max_unpool2d(const Tensor& input, const Tensor& indices, Size2 kernel_size,
                    Size2 stride = {0, 0}, Size2 padding = {0, 0},
                    std::optional<std::vector<int64_t>> output_size = std::nullopt);

}  // namespace kiln::nn::functional

namespace kiln::nn {

using functional::Size2;

// Pooling modules (src/nn/pooling.cpp). They have no parameters or buffers; their options are
// PyTorch's. A stride of 0 ({0, 0}) means the kernel size.
class MaxPool1d : public Module {
 public:
  explicit MaxPool1d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0,
                     int64_t dilation = 1, bool return_indices = false, bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;  // the values (indices: forward_with_indices)
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& x);
  std::string extra_repr() const override;
  bool return_indices() const { return return_indices_; }
  int64_t kernel_size() const { return kernel_size_; }
  int64_t stride() const { return stride_; }
  int64_t padding() const { return padding_; }
  int64_t dilation() const { return dilation_; }

 private:
  int64_t kernel_size_, stride_, padding_, dilation_;
  bool return_indices_, ceil_mode_;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, Size2 stride = {0, 0}, Size2 padding = {0, 0},
                     Size2 dilation = {1, 1}, bool return_indices = false, bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& x);
  std::string extra_repr() const override;
  bool return_indices() const { return return_indices_; }
  Size2 kernel_size() const { return kernel_size_; }
  Size2 stride() const { return stride_; }
  Size2 padding() const { return padding_; }
  Size2 dilation() const { return dilation_; }

 private:
  Size2 kernel_size_, stride_, padding_, dilation_;
  bool return_indices_, ceil_mode_;
};

class AvgPool1d : public Module {
 public:
  explicit AvgPool1d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0,
                     bool ceil_mode = false, bool count_include_pad = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t kernel_size() const { return kernel_size_; }
  int64_t stride() const { return stride_; }
  int64_t padding() const { return padding_; }

 private:
  int64_t kernel_size_, stride_, padding_;
  bool ceil_mode_, count_include_pad_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, Size2 stride = {0, 0}, Size2 padding = {0, 0},
                     bool ceil_mode = false, bool count_include_pad = true,
                     std::optional<int64_t> divisor_override = std::nullopt);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Size2 kernel_size() const { return kernel_size_; }
  Size2 stride() const { return stride_; }
  Size2 padding() const { return padding_; }

 private:
  Size2 kernel_size_, stride_, padding_;
  bool ceil_mode_, count_include_pad_;
  std::optional<int64_t> divisor_override_;
};

class AdaptiveAvgPool1d : public Module {
 public:
  explicit AdaptiveAvgPool1d(int64_t output_size);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t output_size_;
};

// An output_size entry of -1 keeps that input size (torch's None).
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  Size2 output_size_;
};

class AdaptiveMaxPool2d : public Module {
 public:
  explicit AdaptiveMaxPool2d(Size2 output_size, bool return_indices = false);
  Tensor forward(const Tensor& x) override;
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& x);
  std::string extra_repr() const override;
  bool return_indices() const { return return_indices_; }

 private:
  Size2 output_size_;
  bool return_indices_;
};

// Takes (input, indices); the one-input forward explains that.
class MaxUnpool2d : public Module {
 public:
  explicit MaxUnpool2d(Size2 kernel_size, Size2 stride = {0, 0}, Size2 padding = {0, 0});
  Tensor forward(const Tensor& x, const Tensor& indices,
                 std::optional<std::vector<int64_t>> output_size = std::nullopt);
  Tensor forward(const Tensor& x) override;
  using Module::operator();
  Tensor operator()(const Tensor& x, const Tensor& indices,
                    std::optional<std::vector<int64_t>> output_size = std::nullopt) {
    return forward(x, indices, std::move(output_size));
  }
  std::string extra_repr() const override;

 private:
  Size2 kernel_size_, stride_, padding_;
};

}  // namespace kiln::nn
