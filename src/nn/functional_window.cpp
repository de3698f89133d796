// Window geometry and the cache of window index tensors (see functional_window.h).
#include "nn/functional_window.h"

#include <map>
#include <mutex>
#include <utility>

#include "kiln/error.h"

namespace kiln::nn::functional::detail {
namespace {

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::string Window2d::key() const {
  return kiln::detail::concat(h, ",", w, ";", kernel[0], ",", kernel[1], ";", stride[0], ",",
                              stride[1], ";", pad_before[0], ",", pad_before[1], ";", dilation[0],
                              ",", dilation[1], ";", oh, ",", ow);
}

int64_t conv_output_size(int64_t in, int64_t pads, int64_t kernel, int64_t stride,
                         int64_t dilation) {
  return floor_div(in + pads - dilation * (kernel - 1) - 1, stride) + 1;
}

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation,
                         bool ceil_mode) {
  int64_t out =
      floor_div(in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) +
      1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

std::vector<int64_t> window_positions(const Window2d& g) {
  std::vector<int64_t> pos(size_t(g.outputs() * g.taps()));
  size_t i = 0;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t y0 = oy * g.stride[0] - g.pad_before[0];
      const int64_t x0 = ox * g.stride[1] - g.pad_before[1];
      for (int64_t ky = 0; ky < g.kernel[0]; ++ky) {
        const int64_t y = y0 + ky * g.dilation[0];
        for (int64_t kx = 0; kx < g.kernel[1]; ++kx) {
          const int64_t x = x0 + kx * g.dilation[1];
          pos[i++] = (y >= 0 && y < g.h && x >= 0 && x < g.w) ? y * g.w + x : -1;
        }
      }
    }
  }
  return pos;
}

bool reaches_padding(const Window2d& g) {
  for (int d = 0; d < 2; ++d) {
    const size_t i = size_t(d);
    const int64_t in = d == 0 ? g.h : g.w, out = d == 0 ? g.oh : g.ow;
    const int64_t last =
        (out - 1) * g.stride[i] - g.pad_before[i] + (g.kernel[i] - 1) * g.dilation[i];
    if (g.pad_before[i] > 0 || last >= in) return true;
  }
  return false;
}

bool has_empty_window(const Window2d& g) {
  for (int d = 0; d < 2; ++d) {
    const size_t i = size_t(d);
    const int64_t in = d == 0 ? g.h : g.w, out = d == 0 ? g.oh : g.ow;
    for (int64_t o = 0; o < out; ++o) {
      bool any = false;
      for (int64_t k = 0; k < g.kernel[i] && !any; ++k) {
        const int64_t p = o * g.stride[i] - g.pad_before[i] + k * g.dilation[i];
        any = p >= 0 && p < in;
      }
      if (!any) return true;
    }
  }
  return false;
}

Tensor cached_tensor(const std::string& key, Device device, const std::function<Tensor()>& make) {
  // A handful of geometries per model; the bound only guards against unbounded growth when the
  // input size keeps changing.
  constexpr size_t kMaxEntries = 256;
  static std::mutex mutex;
  static std::map<std::pair<std::string, std::string>, Tensor> cache;
  const std::pair<std::string, std::string> k{key, device.str()};
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(k);
    if (it != cache.end()) return it->second;
  }
  Tensor t = make();
  if (!(t.device() == device)) t = t.to(device);
  std::lock_guard<std::mutex> lock(mutex);
  if (cache.size() >= kMaxEntries) cache.clear();
  return cache.emplace(k, t).first->second;
}

std::string size2_str(const std::array<int64_t, 2>& s, bool collapse) {
  if (collapse && s[0] == s[1]) return std::to_string(s[0]);
  return kiln::detail::concat(s[0], "x", s[1]);
}

}  // namespace kiln::nn::functional::detail
