// max_pool2d and avg_pool2d as composites of Kiln ops (PyTorch 1.13 semantics). Each plane of
// the input, flattened to [N * C, H * W], goes through index_select with a cached index that
// lays the windows out as [N * C, OH * OW, KH * KW]; a max or a sum over the last dim follows.
//
// Max pooling needs no -inf padding: a tap that falls outside the input reads the first input
// element of its own window instead (row-major order), which changes neither the maximum nor
// which input element is the first maximum (PyTorch's choice, and where the gradient goes).
// Only a window with no input element at all (possible with dilation) reads an appended -inf.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/error.h"
#include "kiln/nn/conv.h"
#include "kiln/ops.h"
#include "nn/functional_common.h"
#include "nn/functional_window.h"

namespace kiln::nn::functional {

using detail::describe;
using detail::pool_output_size;
using detail::size2_str;
using detail::Window2d;

namespace {

// Checks the arguments of a pooling function and returns its window geometry. `x` is 4-D.
Window2d pool_window(const char* fn, const Tensor& input, const Tensor& x, Size2 kernel,
                     Size2 stride, Size2 padding, Size2 dilation, bool ceil_mode) {
  KILN_CHECK_VALUE(kernel[0] >= 1 && kernel[1] >= 1, fn, ": kernel_size must be positive, got ",
                   size2_str(kernel));
  if (stride[0] == 0 && stride[1] == 0) stride = kernel;
  KILN_CHECK_VALUE(stride[0] >= 1 && stride[1] >= 1, fn, ": stride must be positive, got ",
                   size2_str(stride));
  KILN_CHECK_VALUE(dilation[0] >= 1 && dilation[1] >= 1, fn, ": dilation must be positive, got ",
                   size2_str(dilation));
  KILN_CHECK_VALUE(padding[0] >= 0 && padding[1] >= 0, fn, ": padding must be non-negative, got ",
                   size2_str(padding));
  KILN_CHECK_VALUE(padding[0] <= kernel[0] / 2 && padding[1] <= kernel[1] / 2, fn,
                   ": pad should be at most half of kernel size, but got padding ",
                   size2_str(padding), " for kernel_size ", size2_str(kernel));
  Window2d g;
  g.h = x.size(2);
  g.w = x.size(3);
  g.kernel = kernel;
  g.stride = stride;
  g.pad_before = padding;
  g.dilation = dilation;
  g.oh = pool_output_size(g.h, kernel[0], padding[0], stride[0], dilation[0], ceil_mode);
  g.ow = pool_output_size(g.w, kernel[1], padding[1], stride[1], dilation[1], ceil_mode);
  KILN_CHECK_VALUE(g.oh >= 1 && g.ow >= 1, fn, ": output size ", g.oh, "x", g.ow,
                   " is too small (input ", shape_str(input.shape()), ", kernel ",
                   size2_str(kernel), ", stride ", size2_str(stride, true), ", padding ",
                   size2_str(padding, true), ", dilation ", size2_str(dilation, true),
                   ceil_mode ? ", ceil_mode" : "", ")");
  return g;
}

void check_pool_input(const char* fn, const Tensor& input) {
  detail::check_defined(fn, input, "input");
  KILN_CHECK_TYPE(input.is_floating_point(), fn, ": expected a floating point input, got ",
                  describe(input));
  KILN_CHECK_VALUE(input.dim() == 3 || input.dim() == 4, fn,
                   ": expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(input.size(-1) > 0 && input.size(-2) > 0 && input.size(-3) > 0, fn,
                   ": expected non-empty channel and spatial dims, got input ",
                   shape_str(input.shape()));
}

// Max pooling tables, row-major [L, K]. gather: the position each tap reads in a plane
// flattened to H*W (plus one -inf column at position H*W when some window is empty); report: the
// input position PyTorch reports when that tap is the window's maximum.
struct MaxTables {
  std::vector<int64_t> gather, report;
};

MaxTables max_tables(const Window2d& g) {
  MaxTables t;
  t.gather = detail::window_positions(g);
  t.report = t.gather;
  const int64_t L = g.outputs(), K = g.taps();
  for (int64_t l = 0; l < L; ++l) {
    int64_t* row = t.gather.data() + l * K;
    int64_t* rep = t.report.data() + l * K;
    const int64_t* first = std::find_if(row, row + K, [](int64_t p) { return p >= 0; });
    int64_t fill = 0, fill_report = 0;
    if (first != row + K) {
      fill = fill_report = *first;
    } else {
      // No input element in the window: the result is -inf and PyTorch reports the position of
      // the first tap at or after the top-left corner of the input (outside the plane).
      fill = g.plane();
      const int64_t oy = l / g.ow, ox = l % g.ow;
      int64_t y = oy * g.stride[0] - g.pad_before[0], x = ox * g.stride[1] - g.pad_before[1];
      while (y < 0) y += g.dilation[0];
      while (x < 0) x += g.dilation[1];
      fill_report = y * g.w + x;
    }
    for (int64_t k = 0; k < K; ++k)
      if (row[k] < 0) {
        row[k] = fill;
        rep[k] = fill_report;
      }
  }
  return t;
}

std::pair<Tensor, Tensor> max_pool2d_impl(const char* fn, const Tensor& input, Size2 kernel,
                                          Size2 stride, Size2 padding, Size2 dilation,
                                          bool ceil_mode, bool with_indices) {
  check_pool_input(fn, input);
  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : unsqueeze(input, 0);
  const Window2d g = pool_window(fn, input, x, kernel, stride, padding, dilation, ceil_mode);
  const int64_t N = x.size(0), C = x.size(1), L = g.outputs(), K = g.taps();
  const std::string key = kiln::detail::concat("max_pool2d;", g.key());
  const Device dev = x.device();
  Tensor index = detail::cached_tensor(key + ";gather", dev, [&] {
    MaxTables t = max_tables(g);
    return tensor(t.gather, {int64_t(t.gather.size())});
  });
  const bool neg_slot = detail::has_empty_window(g);

  Tensor flat = reshape(x, {N * C, g.plane()});
  if (neg_slot)
    flat =
        cat({flat, full({N * C, 1}, -std::numeric_limits<double>::infinity(), x.dtype(), dev)}, 1);
  Tensor windows = reshape(index_select(flat, 1, index), {N * C, L, K});
  auto [values, slot] = max(windows, 2);
  values = reshape(values, {N, C, g.oh, g.ow});
  Tensor indices;
  if (with_indices) {
    Tensor report = detail::cached_tensor(key + ";report", dev, [&] {
      MaxTables t = max_tables(g);
      return tensor(t.report, {int64_t(t.report.size())});
    });
    // Slot k of window l is entry l * K + k of the report table.
    Tensor flat_slot =
        add(slot, arange(0, double(L * K), double(K), TensorOptions(DType::Int64, dev)));
    indices = reshape(index_select(report, 0, reshape(flat_slot, {N * C * L})), {N, C, g.oh, g.ow});
    if (!batched) indices = squeeze(indices, 0);
  }
  return {batched ? values : squeeze(values, 0), indices};
}

}  // namespace

Tensor max_pool2d(const Tensor& input, Size2 kernel_size, Size2 stride, Size2 padding,
                  Size2 dilation, bool ceil_mode) {
  return max_pool2d_impl("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode,
                         false)
      .first;
}

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, Size2 kernel_size,
                                                  Size2 stride, Size2 padding, Size2 dilation,
                                                  bool ceil_mode) {
  return max_pool2d_impl("max_pool2d_with_indices", input, kernel_size, stride, padding, dilation,
                         ceil_mode, true);
}

Tensor avg_pool2d(const Tensor& input, Size2 kernel_size, Size2 stride, Size2 padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  constexpr const char* fn = "avg_pool2d";
  check_pool_input(fn, input);
  KILN_CHECK_VALUE(!divisor_override || *divisor_override != 0, fn,
                   ": divisor_override must be non-zero");
  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : unsqueeze(input, 0);
  const Window2d g = pool_window(fn, input, x, kernel_size, stride, padding, {1, 1}, ceil_mode);
  const int64_t N = x.size(0), C = x.size(1), L = g.outputs(), K = g.taps();
  const Device dev = x.device();
  const bool pad_slot = detail::reaches_padding(g);
  const std::string key = kiln::detail::concat("avg_pool2d;", g.key());
  Tensor index = detail::cached_tensor(key, dev, [&] {
    std::vector<int64_t> idx = detail::window_positions(g);
    for (int64_t& p : idx)
      if (p < 0) p = g.plane();  // the appended zero column
    return tensor(idx, {int64_t(idx.size())});
  });
  // PyTorch's divisor: the window clipped to the padded input, or to the input itself.
  const std::string div_key = kiln::detail::concat(
      key, ";", count_include_pad, ";", divisor_override.value_or(0), ";", dtype_name(x.dtype()));
  Tensor divisor = detail::cached_tensor(div_key, dev, [&] {
    std::vector<double> d(static_cast<size_t>(L));
    for (int64_t l = 0; l < L; ++l) {
      const int64_t oy = l / g.ow, ox = l % g.ow;
      int64_t y0 = oy * g.stride[0] - g.pad_before[0], x0 = ox * g.stride[1] - g.pad_before[1];
      int64_t y1 = std::min(y0 + g.kernel[0], g.h + g.pad_before[0]);
      int64_t x1 = std::min(x0 + g.kernel[1], g.w + g.pad_before[1]);
      const int64_t pool_size = (y1 - y0) * (x1 - x0);
      y0 = std::max<int64_t>(y0, 0);
      x0 = std::max<int64_t>(x0, 0);
      y1 = std::min(y1, g.h);
      x1 = std::min(x1, g.w);
      d[size_t(l)] = divisor_override    ? double(*divisor_override)
                     : count_include_pad ? double(pool_size)
                                         : double((y1 - y0) * (x1 - x0));
    }
    return tensor(d, {L}, TensorOptions(x.dtype()));
  });

  Tensor flat = reshape(x, {N * C, g.plane()});
  if (pad_slot) flat = cat({flat, zeros({N * C, 1}, TensorOptions(x.dtype(), dev))}, 1);
  Tensor windows = reshape(index_select(flat, 1, index), {N * C, L, K});
  Tensor out = reshape(div(sum(windows, {2}), divisor), {N, C, g.oh, g.ow});
  return batched ? out : squeeze(out, 0);
}

}  // namespace kiln::nn::functional
