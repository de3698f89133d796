// 1-D pooling, adaptive pooling and max unpooling as composites of Kiln ops (PyTorch 1.13
// semantics; include/kiln/nn/pooling.h).
//
// The 1-D pools check their arguments with 1-D messages, then run the 2-D pools on a height-1
// view. The adaptive pools gather each window, padded to the largest window size, with
// index_select through a cached index (as src/nn/functional_pool.cpp does): an average pads with
// an appended zero column and divides by the true window size; a max pads with the window's own
// first element, which changes neither the maximum nor which element is its first occurrence.
// max_unpool2d is a scatter into a zero plane, whose gradient is the gather torch uses.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "kiln/error.h"
#include "kiln/nn/conv.h"
#include "kiln/nn/pooling.h"
#include "kiln/ops.h"
#include "nn/functional_common.h"
#include "nn/functional_window.h"

namespace kiln::nn::functional {

using detail::describe;
using detail::pool_output_size;
using detail::size2_str;

namespace {

// Checks a 1-D pool's input and arguments with messages naming `fn`; returns the stride with
// 0 resolved to the kernel size.
int64_t check_pool1d(const char* fn, const Tensor& input, int64_t kernel, int64_t stride,
                     int64_t padding, int64_t dilation, bool ceil_mode) {
  detail::check_defined(fn, input, "input");
  KILN_CHECK_TYPE(input.is_floating_point(), fn, ": expected a floating point input, got ",
                  describe(input));
  KILN_CHECK_VALUE(input.dim() == 2 || input.dim() == 3, fn,
                   ": expected a 2-D [C, L] or 3-D [N, C, L] input, got ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(input.size(-1) > 0 && input.size(-2) > 0, fn,
                   ": expected non-empty channel and length dims, got input ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(kernel >= 1, fn, ": kernel_size must be positive, got ", kernel);
  if (stride == 0) stride = kernel;
  KILN_CHECK_VALUE(stride >= 1, fn, ": stride must be positive, got ", stride);
  KILN_CHECK_VALUE(dilation >= 1, fn, ": dilation must be positive, got ", dilation);
  KILN_CHECK_VALUE(padding >= 0, fn, ": padding must be non-negative, got ", padding);
  KILN_CHECK_VALUE(padding <= kernel / 2, fn,
                   ": pad should be at most half of kernel size, but got padding ", padding,
                   " for kernel_size ", kernel);
  const int64_t out =
      pool_output_size(input.size(-1), kernel, padding, stride, dilation, ceil_mode);
  KILN_CHECK_VALUE(out >= 1, fn, ": output size ", out, " is too small (input ",
                   shape_str(input.shape()), ", kernel ", kernel, ", stride ", stride, ", padding ",
                   padding, ", dilation ", dilation, ceil_mode ? ", ceil_mode" : "", ")");
  return stride;
}

// ---- adaptive windows ----

int64_t window_start(int64_t i, int64_t out, int64_t in) { return (i * in) / out; }
int64_t window_end(int64_t i, int64_t out, int64_t in) { return ((i + 1) * in + out - 1) / out; }

// The largest adaptive window along a dim.
int64_t max_window(int64_t in, int64_t out) {
  int64_t k = 0;
  for (int64_t i = 0; i < out; ++i)
    k = std::max(k, window_end(i, out, in) - window_start(i, out, in));
  return k;
}

struct Adaptive {
  int64_t h = 0, w = 0, oh = 0, ow = 0, kh = 0, kw = 0;
  int64_t plane() const { return h * w; }
  int64_t taps() const { return kh * kw; }
  int64_t outputs() const { return oh * ow; }
  std::string key() const { return kiln::detail::concat(h, ",", w, ",", oh, ",", ow); }
};

// For window l and tap k (row-major over the largest window), the input position, or -1 where
// the window is smaller. Row-major [outputs, taps].
std::vector<int64_t> adaptive_positions(const Adaptive& g) {
  std::vector<int64_t> pos(static_cast<size_t>(g.outputs() * g.taps()), -1);
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t y0 = window_start(oy, g.oh, g.h), y1 = window_end(oy, g.oh, g.h);
      const int64_t x0 = window_start(ox, g.ow, g.w), x1 = window_end(ox, g.ow, g.w);
      int64_t* row = pos.data() + (oy * g.ow + ox) * g.taps();
      for (int64_t y = y0; y < y1; ++y)
        for (int64_t x = x0; x < x1; ++x) row[(y - y0) * g.kw + (x - x0)] = y * g.w + x;
    }
  return pos;
}

// Checks an adaptive 2-D pool's input (3-D or 4-D, non-empty spatial dims) and output size.
Adaptive adaptive_geometry(const char* fn, const Tensor& input, Size2 output_size) {
  detail::check_defined(fn, input, "input");
  KILN_CHECK_TYPE(input.is_floating_point(), fn, ": expected a floating point input, got ",
                  describe(input));
  KILN_CHECK_VALUE(input.dim() == 3 || input.dim() == 4, fn,
                   ": expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(input.size(-1) > 0 && input.size(-2) > 0, fn,
                   ": expected non-empty spatial dims, got input ", shape_str(input.shape()));
  Adaptive g;
  g.h = input.size(-2);
  g.w = input.size(-1);
  g.oh = output_size[0] == -1 ? g.h : output_size[0];
  g.ow = output_size[1] == -1 ? g.w : output_size[1];
  KILN_CHECK_VALUE(g.oh >= 0 && g.ow >= 0, fn,
                   ": elements of output_size must be non-negative (or -1 for the input size), "
                   "got ",
                   size2_str(output_size), " for input ", shape_str(input.shape()));
  g.kh = max_window(g.h, g.oh);
  g.kw = max_window(g.w, g.ow);
  return g;
}

// The empty result of a pool to an output size with a zero, still connected to the input.
Tensor empty_pool(const Tensor& x, int64_t N, int64_t C, const Adaptive& g) {
  return reshape(narrow(reshape(x, {N * C, g.plane()}), 1, 0, 0), {N, C, g.oh, g.ow});
}

std::pair<Tensor, Tensor> adaptive_max_impl(const char* fn, const Tensor& input, Size2 output_size,
                                            bool with_indices) {
  const Adaptive g = adaptive_geometry(fn, input, output_size);
  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : unsqueeze(input, 0);
  const int64_t N = x.size(0), C = x.size(1), L = g.outputs(), K = g.taps();
  const Device dev = x.device();
  Tensor values, indices;
  if (L == 0 || N * C == 0) {
    values =
        L == 0 ? empty_pool(x, N, C, g) : zeros({N, C, g.oh, g.ow}, TensorOptions(x.dtype(), dev));
    if (with_indices) indices = zeros({N, C, g.oh, g.ow}, TensorOptions(DType::Int64, dev));
  } else {
    // The taps outside a smaller window read the window's first element; the table doubles as
    // the positions reported as indices.
    Tensor index =
        detail::cached_tensor(kiln::detail::concat("adaptive_max_pool2d;", g.key()), dev, [&] {
          std::vector<int64_t> pos = adaptive_positions(g);
          for (int64_t l = 0; l < L; ++l) {
            int64_t* row = pos.data() + l * K;
            for (int64_t k = 0; k < K; ++k)
              if (row[k] < 0) row[k] = row[0];
          }
          return tensor(pos, {int64_t(pos.size())});
        });
    Tensor windows = reshape(index_select(reshape(x, {N * C, g.plane()}), 1, index), {N * C, L, K});
    auto [v, slot] = max(windows, 2);
    values = reshape(v, {N, C, g.oh, g.ow});
    if (with_indices) {
      Tensor flat_slot =
          add(slot, arange(0, double(L * K), double(K), TensorOptions(DType::Int64, dev)));
      indices =
          reshape(index_select(index, 0, reshape(flat_slot, {N * C * L})), {N, C, g.oh, g.ow});
    }
  }
  if (!batched) {
    values = squeeze(values, 0);
    if (with_indices) indices = squeeze(indices, 0);
  }
  return {values, indices};
}

}  // namespace

// ---------------- 1-D pooling ----------------

std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& input, int64_t kernel_size,
                                                  int64_t stride, int64_t padding, int64_t dilation,
                                                  bool ceil_mode) {
  stride = check_pool1d("max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode);
  auto [values, indices] = max_pool2d_with_indices(
      unsqueeze(input, -2), {1, kernel_size}, {1, stride}, {0, padding}, {1, dilation}, ceil_mode);
  // With a height of 1 the flat plane position h * W + w is the position along the length.
  return {squeeze(values, -2), squeeze(indices, -2)};
}

Tensor max_pool1d(const Tensor& input, int64_t kernel_size, int64_t stride, int64_t padding,
                  int64_t dilation, bool ceil_mode) {
  stride = check_pool1d("max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode);
  return squeeze(max_pool2d(unsqueeze(input, -2), {1, kernel_size}, {1, stride}, {0, padding},
                            {1, dilation}, ceil_mode),
                 -2);
}

Tensor avg_pool1d(const Tensor& input, int64_t kernel_size, int64_t stride, int64_t padding,
                  bool ceil_mode, bool count_include_pad) {
  stride = check_pool1d("avg_pool1d", input, kernel_size, stride, padding, 1, ceil_mode);
  return squeeze(avg_pool2d(unsqueeze(input, -2), {1, kernel_size}, {1, stride}, {0, padding},
                            ceil_mode, count_include_pad),
                 -2);
}

// ---------------- adaptive pooling ----------------

Tensor adaptive_avg_pool2d(const Tensor& input, Size2 output_size) {
  constexpr const char* fn = "adaptive_avg_pool2d";
  const Adaptive g = adaptive_geometry(fn, input, output_size);
  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : unsqueeze(input, 0);
  const int64_t N = x.size(0), C = x.size(1), L = g.outputs(), K = g.taps();
  const Device dev = x.device();
  Tensor out;
  if (L == 0 || N * C == 0) {
    out =
        L == 0 ? empty_pool(x, N, C, g) : zeros({N, C, g.oh, g.ow}, TensorOptions(x.dtype(), dev));
  } else {
    const std::string key = kiln::detail::concat("adaptive_avg_pool2d;", g.key());
    std::vector<int64_t> pos;  // built only when a table is missing from the cache
    auto positions = [&]() -> const std::vector<int64_t>& {
      if (pos.empty()) pos = adaptive_positions(g);
      return pos;
    };
    bool ragged = false;  // some window smaller than the largest: pad with a zero column
    for (int64_t i = 0; i < g.oh && !ragged; ++i)
      ragged = window_end(i, g.oh, g.h) - window_start(i, g.oh, g.h) != g.kh;
    for (int64_t i = 0; i < g.ow && !ragged; ++i)
      ragged = window_end(i, g.ow, g.w) - window_start(i, g.ow, g.w) != g.kw;
    Tensor index = detail::cached_tensor(key, dev, [&] {
      std::vector<int64_t> idx = positions();
      for (int64_t& p : idx)
        if (p < 0) p = g.plane();
      return tensor(idx, {int64_t(idx.size())});
    });
    Tensor divisor = detail::cached_tensor(key + ";" + dtype_name(x.dtype()), dev, [&] {
      std::vector<double> d(static_cast<size_t>(L));
      for (int64_t l = 0; l < L; ++l) {
        const int64_t oy = l / g.ow, ox = l % g.ow;
        d[size_t(l)] = double((window_end(oy, g.oh, g.h) - window_start(oy, g.oh, g.h)) *
                              (window_end(ox, g.ow, g.w) - window_start(ox, g.ow, g.w)));
      }
      return tensor(d, {L}, TensorOptions(x.dtype()));
    });
    Tensor flat = reshape(x, {N * C, g.plane()});
    if (ragged) flat = cat({flat, zeros({N * C, 1}, TensorOptions(x.dtype(), dev))}, 1);
    Tensor windows = reshape(index_select(flat, 1, index), {N * C, L, K});
    out = reshape(div(sum(windows, {2}), divisor), {N, C, g.oh, g.ow});
  }
  return batched ? out : squeeze(out, 0);
}

Tensor adaptive_avg_pool1d(const Tensor& input, int64_t output_size) {
  constexpr const char* fn = "adaptive_avg_pool1d";
  detail::check_defined(fn, input, "input");
  KILN_CHECK_VALUE(input.dim() == 2 || input.dim() == 3, fn,
                   ": expected a 2-D [C, L] or 3-D [N, C, L] input, got ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(output_size >= 0, fn, ": output_size must be non-negative, got ", output_size,
                   " for input ", shape_str(input.shape()));
  KILN_CHECK_VALUE(input.size(-1) > 0, fn, ": expected a non-empty length dim, got input ",
                   shape_str(input.shape()));
  return squeeze(adaptive_avg_pool2d(unsqueeze(input, -2), {1, output_size}), -2);
}

Tensor adaptive_max_pool2d(const Tensor& input, Size2 output_size) {
  return adaptive_max_impl("adaptive_max_pool2d", input, output_size, false).first;
}

std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input, Size2 output_size) {
  return adaptive_max_impl("adaptive_max_pool2d", input, output_size, true);
}

// ---------------- unpooling ----------------

Tensor max_unpool2d(const Tensor& input, const Tensor& indices, Size2 kernel_size, Size2 stride,
                    Size2 padding, std::optional<std::vector<int64_t>> output_size) {
  constexpr const char* fn = "max_unpool2d";
  detail::check_defined(fn, input, "input");
  detail::check_defined(fn, indices, "indices");
  KILN_CHECK_TYPE(input.is_floating_point(), fn, ": expected a floating point input, got ",
                  describe(input));
  KILN_CHECK_TYPE(indices.dtype() == DType::Int64, fn, ": expected int64 indices, got ",
                  describe(indices));
  KILN_CHECK_VALUE(input.dim() == 3 || input.dim() == 4, fn,
                   ": expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(indices.shape() == input.shape(), fn, ": expected indices of the input's shape ",
                   shape_str(input.shape()), ", got ", shape_str(indices.shape()));
  KILN_CHECK_VALUE(indices.device() == input.device(), fn,
                   ": input and indices must be on the same device, got ", describe(input), " and ",
                   describe(indices));
  KILN_CHECK_VALUE(kernel_size[0] >= 1 && kernel_size[1] >= 1, fn,
                   ": kernel_size must be positive, got ", size2_str(kernel_size));
  if (stride[0] == 0 && stride[1] == 0) stride = kernel_size;
  KILN_CHECK_VALUE(stride[0] >= 1 && stride[1] >= 1, fn, ": stride must be positive, got ",
                   size2_str(stride));
  KILN_CHECK_VALUE(padding[0] >= 0 && padding[1] >= 0, fn, ": padding must be non-negative, got ",
                   size2_str(padding));
  const int64_t h = input.size(-2), w = input.size(-1);
  const Size2 defaults{(h - 1) * stride[0] + kernel_size[0] - 2 * padding[0],
                       (w - 1) * stride[1] + kernel_size[1] - 2 * padding[1]};
  Size2 out = defaults;
  if (output_size) {
    std::vector<int64_t> os = *output_size;
    if (os.size() == 4) os.erase(os.begin(), os.begin() + 2);
    KILN_CHECK_VALUE(os.size() == 2, fn, ": output_size must have 2 or 4 elements, got ",
                     output_size->size());
    for (size_t d = 0; d < 2; ++d) {
      const int64_t lo = defaults[d] - stride[d], hi = defaults[d] + stride[d];
      KILN_CHECK_VALUE(lo < os[d] && os[d] < hi, fn, ": invalid output_size ", os[0], "x", os[1],
                       " (dim ", d, " must be between ", lo, " and ", hi, ", exclusive) for input ",
                       shape_str(input.shape()), ", kernel ", size2_str(kernel_size), ", stride ",
                       size2_str(stride, true), ", padding ", size2_str(padding, true));
      out[d] = os[d];
    }
  }
  KILN_CHECK_VALUE(out[0] >= 1 && out[1] >= 1, fn, ": output size ", out[0], "x", out[1],
                   " is too small (input ", shape_str(input.shape()), ", kernel ",
                   size2_str(kernel_size), ", stride ", size2_str(stride, true), ", padding ",
                   size2_str(padding, true), ")");
  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : unsqueeze(input, 0);
  const Tensor idx = batched ? indices : unsqueeze(indices, 0);
  const int64_t N = x.size(0), C = x.size(1), plane = out[0] * out[1];
  if (idx.numel() > 0) {
    // torch's own check, made on the host: an out-of-range index is a user error.
    const Tensor lo = min(idx), hi = max(idx);
    const int64_t bad = lo.item<int64_t>() < 0 ? lo.item<int64_t>() : hi.item<int64_t>();
    KILN_CHECK_VALUE(bad >= 0 && bad < plane, fn, ": found an invalid max index ", bad,
                     " (output planes are of size ", out[0], "x", out[1], ")");
  }
  Tensor result = scatter(zeros({N * C, plane}, TensorOptions(x.dtype(), x.device())), 1,
                          reshape(idx, {N * C, h * w}), reshape(x, {N * C, h * w}));
  result = reshape(result, {N, C, out[0], out[1]});
  return batched ? result : squeeze(result, 0);
}

}  // namespace kiln::nn::functional
