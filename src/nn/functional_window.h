#pragma once
// Sliding windows over the last two dims of a tensor, shared by conv2d and the pooling functions
// (src/nn/functional_conv.cpp, src/nn/functional_pool.cpp). The windows are gathered with
// index_select through an int64 index that depends only on the shapes; the index tensors are
// built on the host once per geometry and device and cached.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kiln/device.h"
#include "kiln/tensor.h"

namespace kiln::nn::functional::detail {

// One 2-D window layout: an h x w plane, a kh x kw kernel with stride and dilation, windows
// starting at o * stride - pad_before, and oh x ow windows.
struct Window2d {
  int64_t h = 0, w = 0;
  std::array<int64_t, 2> kernel{}, stride{}, pad_before{}, dilation{};
  int64_t oh = 0, ow = 0;

  int64_t plane() const { return h * w; }
  int64_t taps() const { return kernel[0] * kernel[1]; }
  int64_t outputs() const { return oh * ow; }
  // The numbers that determine the windows, for cache keys.
  std::string key() const;
};

// floor((in + pads - dilation * (kernel - 1) - 1) / stride) + 1; may be < 1.
int64_t conv_output_size(int64_t in, int64_t pads, int64_t kernel, int64_t stride,
                         int64_t dilation);

// PyTorch's pooling_output_shape: with ceil_mode the size rounds up, but the last window must
// start inside the input or the left padding. May be < 1.
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation,
                         bool ceil_mode);

// For window l and tap k (in row-major kernel order), the input position ih * w + iw, or -1
// where the tap falls outside the input (padding). Row-major [outputs, taps].
std::vector<int64_t> window_positions(const Window2d& g);

// Whether some tap of some window falls outside the input (into the padding).
bool reaches_padding(const Window2d& g);
// Whether some window has no tap inside the input (possible with dilation).
bool has_empty_window(const Window2d& g);

// The int64 tensor `make()` builds on the host, moved to `device`, cached under (key, device).
// make() runs at most once per key and device (the cache is bounded and thread safe).
Tensor cached_tensor(const std::string& key, Device device, const std::function<Tensor()>& make);

// "3x3", or "2" when both entries are equal and `collapse`.
std::string size2_str(const std::array<int64_t, 2>& s, bool collapse = false);

}  // namespace kiln::nn::functional::detail
