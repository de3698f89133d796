// pad, interpolate, pixel_shuffle / pixel_unshuffle and dropout2d as composites of Kiln ops
// (PyTorch 1.13 semantics). Padding and interpolation are separable: each affected dim goes
// through index_select with an index computed here on the host (plus, for linear modes, a
// second index and a broadcast weight), so gradients (and their gradients) come from
// index_select's backward.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/error.h"
#include "kiln/nn/resample.h"
#include "kiln/ops.h"
#include "nn/functional_common.h"

namespace kiln::nn::functional {

namespace {

std::string list_str(const std::vector<int64_t>& v) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
  s << ")";
  return s.str();
}

Tensor index_tensor(const std::vector<int64_t>& idx, Device dev) {
  return tensor(idx, {int64_t(idx.size())}, TensorOptions(DType::Int64, dev));
}

// Selects `idx` along `dim`, where idx may name position x.size(dim): a slot holding `fill`
// (constant padding).
Tensor select_with_fill(const Tensor& x, int64_t dim, const std::vector<int64_t>& idx,
                        std::optional<double> fill) {
  Tensor src = x;
  if (fill) {
    Shape s = x.shape();
    s[dim] = 1;
    src = cat({x, full(s, *fill, x.dtype(), x.device())}, dim);
  }
  return index_select(src, dim, index_tensor(idx, x.device()));
}

}  // namespace

Tensor pad(const Tensor& input, const std::vector<int64_t>& pads, const std::string& mode,
           std::optional<double> value) {
  detail::check_defined("pad", input, "input");
  const int64_t dim = input.dim();
  const int64_t np = int64_t(pads.size());
  KILN_CHECK_VALUE(np % 2 == 0, "pad: padding length must be divisible by 2, got ", list_str(pads));
  KILN_CHECK_VALUE(np <= 2 * dim,
                   "pad: padding length should be at most twice the input dimension, got padding ",
                   list_str(pads), " for input ", shape_str(input.shape()));
  const bool constant = mode == "constant";
  KILN_CHECK_VALUE(constant || mode == "reflect" || mode == "replicate" || mode == "circular",
                   "pad: unrecognised padding mode '", mode,
                   "' (expected constant, reflect, replicate or circular)");
  if (!constant) {
    KILN_CHECK_VALUE(!value || *value == 0, "pad: padding mode \"", mode,
                     "\" doesn't take in value argument");
    const bool ok = (np == 2 && (dim == 2 || dim == 3)) || (np == 4 && (dim == 3 || dim == 4)) ||
                    (np == 6 && (dim == 4 || dim == 5));
    KILN_CHECK_VALUE(ok, "pad: mode '", mode,
                     "' supports 2 pads on a 2-D/3-D input, 4 on a 3-D/4-D input and 6 on a "
                     "4-D/5-D input, got padding ",
                     list_str(pads), " for input ", shape_str(input.shape()));
    if (mode == "circular")
      KILN_CHECK_VALUE(np == 2 * (dim - 2), "pad: mode 'circular' expects ", 2 * (dim - 2),
                       " pads (batch and channel dims unpadded) for input ",
                       shape_str(input.shape()), ", got ", list_str(pads));
  }
  Tensor x = input;
  for (int64_t k = 0; k < np / 2; ++k) {
    const int64_t d = dim - 1 - k;
    const int64_t before = pads[2 * k], after = pads[2 * k + 1];
    const int64_t in = input.size(d);
    const int64_t out = in + before + after;
    if (mode == "reflect")
      KILN_CHECK_VALUE(before < in && after < in, "pad: padding (", before, ", ", after,
                       ") at dimension ", d, " of input ", shape_str(input.shape()),
                       " should be less than the dimension size (mode 'reflect')");
    if (mode == "circular")
      KILN_CHECK_VALUE(before <= in && after <= in, "pad: padding (", before, ", ", after,
                       ") at dimension ", d, " of input ", shape_str(input.shape()),
                       " wraps around more than once (mode 'circular')");
    KILN_CHECK_VALUE(out >= (constant ? 0 : 1), "pad: padding (", before, ", ", after,
                     ") at dimension ", d, " of input ", shape_str(input.shape()),
                     " gives an output size of ", out);
    if (before == 0 && after == 0) continue;
    if (!constant)
      KILN_CHECK_VALUE(in > 0, "pad: mode '", mode, "' needs a non-empty dimension ", d,
                       ", got input ", shape_str(input.shape()));
    const int64_t kept = in + std::min<int64_t>(before, 0) + std::min<int64_t>(after, 0);
    if (mode == "circular")
      KILN_CHECK_VALUE(kept > 0, "pad: padding (", before, ", ", after, ") at dimension ", d,
                       " of input ", shape_str(input.shape()),
                       " crops the whole dimension before wrapping around (mode 'circular')");
    std::vector<int64_t> idx(size_t(std::max<int64_t>(out, 0)));
    for (int64_t j = 0; j < out; ++j) {
      int64_t p = j - before;
      if (constant) {
        if (p < 0 || p >= in) p = in;  // the fill slot
      } else if (mode == "reflect") {
        if (p < 0) p = -p;
        if (p >= in) p = 2 * (in - 1) - p;
      } else if (mode == "replicate") {
        p = std::min(std::max<int64_t>(p, 0), in - 1);
      } else {
        // torch 1.13 crops the negative sides first and wraps the positive ones around what
        // remains: [lo, lo + kept).
        const int64_t lo = std::max<int64_t>(-before, 0);
        const int64_t q = j - std::max<int64_t>(before, 0);
        p = lo + ((q % kept) + kept) % kept;
      }
      idx[size_t(j)] = p;
    }
    x = select_with_fill(x, d, idx,
                         constant ? std::optional<double>(value.value_or(0)) : std::nullopt);
  }
  return x;
}

namespace {

// torch's compute_scales_value / area_pixel_compute_scale, in the accumulation type T (float
// for float32 inputs, double for float64) so that indices match torch's bit for bit.
template <typename T>
T scales_value(std::optional<double> scale, int64_t in, int64_t out) {
  return (scale && *scale > 0) ? static_cast<T>(1.0 / *scale) : static_cast<T>(in) / T(out);
}

template <typename T>
void nearest_index(std::vector<int64_t>& idx, int64_t in, int64_t out, std::optional<double> scale,
                   bool exact) {
  idx.resize(size_t(out));
  const float s = scales_value<float>(scale, in, out);  // torch uses float for nearest
  for (int64_t j = 0; j < out; ++j) {
    int64_t p;
    if (exact) {
      p = std::min(static_cast<int64_t>(std::floor(float((double(j) + 0.5) * double(s)))), in - 1);
    } else if (out == in) {
      p = j;
    } else if (out == 2 * in) {
      p = j >> 1;
    } else {
      p = std::min(static_cast<int64_t>(std::floor(float(j) * s)), in - 1);
    }
    idx[size_t(j)] = p;
  }
}

template <typename T>
void linear_index(std::vector<int64_t>& i0, std::vector<int64_t>& i1, std::vector<double>& w0,
                  std::vector<double>& w1, int64_t in, int64_t out, std::optional<double> scale,
                  bool align_corners) {
  T s;
  if (align_corners)
    s = out > 1 ? static_cast<T>(in - 1) / T(out - 1) : T(0);
  else
    s = scales_value<T>(scale, in, out);
  for (int64_t j = 0; j < out; ++j) {
    T src;
    if (align_corners) {
      src = s * T(j);
    } else {
      src = static_cast<T>(double(s) * (double(j) + 0.5) - 0.5);  // as torch: in double
      if (src < 0) src = 0;
    }
    const int64_t a = static_cast<int64_t>(src);
    const int64_t off = a < in - 1 ? 1 : 0;
    const T l1 = std::min(std::max(src - T(a), T(0)), T(1));
    const T l0 = T(1) - l1;
    i0.push_back(a);
    i1.push_back(a + off);
    w0.push_back(double(l0));
    w1.push_back(double(l1));
  }
}

}  // namespace

Tensor interpolate(const Tensor& input, const std::vector<int64_t>& size,
                   const std::vector<double>& scale_factor, const std::string& mode,
                   std::optional<bool> align_corners, std::optional<bool> recompute_scale_factor) {
  detail::check_defined("interpolate", input, "input");
  const int64_t dim = input.dim();
  KILN_CHECK_VALUE(dim >= 3 && dim <= 5,
                   "interpolate: only 3-D, 4-D and 5-D inputs are supported, got input ",
                   shape_str(input.shape()));
  const int64_t k = dim - 2;
  const bool nearest = mode == "nearest" || mode == "nearest-exact";
  const bool linear = mode == "linear" || mode == "bilinear" || mode == "trilinear";
  KILN_CHECK_VALUE(nearest || linear, "interpolate: unsupported mode '", mode,
                   "' (expected nearest, nearest-exact, linear, bilinear or trilinear)");
  KILN_CHECK_VALUE(!(nearest && align_corners.has_value()),
                   "interpolate: align_corners option can only be set with the interpolating "
                   "modes: linear | bilinear | bicubic | trilinear");
  if (linear) {
    const int64_t need = mode == "linear" ? 3 : mode == "bilinear" ? 4 : 5;
    KILN_CHECK_VALUE(dim == need, "interpolate: got ", dim, "-D input ", shape_str(input.shape()),
                     ", but ", mode, " mode needs ", need, "-D input");
    KILN_CHECK_TYPE(input.is_floating_point(), "interpolate: mode '", mode,
                    "' expects a floating point input, got ", detail::describe(input));
  }
  KILN_CHECK_VALUE(!(size.empty() && scale_factor.empty()),
                   "interpolate: either size or scale_factor should be defined");
  KILN_CHECK_VALUE(size.empty() || scale_factor.empty(),
                   "interpolate: only one of size or scale_factor should be defined");
  KILN_CHECK_VALUE(!(recompute_scale_factor.value_or(false) && !size.empty()),
                   "interpolate: recompute_scale_factor is not meaningful with an explicit size.");
  std::vector<int64_t> out_size(static_cast<size_t>(k));
  std::vector<std::optional<double>> scales(static_cast<size_t>(k));
  if (!size.empty()) {
    KILN_CHECK_VALUE(size.size() == 1 || int64_t(size.size()) == k,
                     "interpolate: input and output must have the same number of spatial "
                     "dimensions, got input ",
                     shape_str(input.shape()), " and output size ", list_str(size));
    for (int64_t i = 0; i < k; ++i) out_size[size_t(i)] = size[size.size() == 1 ? 0 : size_t(i)];
  } else {
    KILN_CHECK_VALUE(scale_factor.size() == 1 || int64_t(scale_factor.size()) == k,
                     "interpolate: scale_factor has ", scale_factor.size(),
                     " values but the input ", shape_str(input.shape()), " has ", k,
                     " spatial dimensions");
    for (int64_t i = 0; i < k; ++i) {
      const double s = scale_factor[scale_factor.size() == 1 ? 0 : size_t(i)];
      out_size[size_t(i)] = static_cast<int64_t>(std::floor(double(input.size(2 + i)) * s));
      if (!recompute_scale_factor.value_or(false)) scales[size_t(i)] = s;
    }
  }
  bool ok = true;
  for (int64_t i = 0; i < k; ++i) ok = ok && input.size(2 + i) > 0 && out_size[size_t(i)] > 0;
  KILN_CHECK_VALUE(ok, "interpolate: input and output sizes should be greater than 0, got input ",
                   shape_str(input.shape()), " and output size ", list_str(out_size));
  const bool ac = align_corners.value_or(false);
  const bool f64 = input.dtype() == DType::Float64;
  Tensor x = input;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t d = 2 + i, in = input.size(d), out = out_size[size_t(i)];
    if (nearest) {
      std::vector<int64_t> idx;
      nearest_index<float>(idx, in, out, scales[size_t(i)], mode == "nearest-exact");
      x = index_select(x, d, index_tensor(idx, x.device()));
      continue;
    }
    std::vector<int64_t> i0, i1;
    std::vector<double> w0, w1;
    if (f64)
      linear_index<double>(i0, i1, w0, w1, in, out, scales[size_t(i)], ac);
    else
      linear_index<float>(i0, i1, w0, w1, in, out, scales[size_t(i)], ac);
    Shape ws(size_t(dim), 1);
    ws[size_t(d)] = out;
    const TensorOptions wo(x.dtype(), x.device());
    Tensor a = index_select(x, d, index_tensor(i0, x.device()));
    Tensor b = index_select(x, d, index_tensor(i1, x.device()));
    x = add(mul(a, tensor(w0, ws, wo)), mul(b, tensor(w1, ws, wo)));
  }
  return x;
}

Tensor pixel_shuffle(const Tensor& input, int64_t upscale_factor) {
  detail::check_defined("pixel_shuffle", input, "input");
  const int64_t r = upscale_factor;
  KILN_CHECK_VALUE(input.dim() >= 3,
                   "pixel_shuffle: expects input to have at least 3 dimensions, got input ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(r > 0, "pixel_shuffle: expects a positive upscale_factor, got ", r);
  const int64_t c = input.size(-3), h = input.size(-2), w = input.size(-1);
  KILN_CHECK_VALUE(c % (r * r) == 0, "pixel_shuffle: the channel dimension of input ",
                   shape_str(input.shape()), " (", c,
                   ") is not divisible by the square of upscale_factor (", r * r, ")");
  Shape lead(input.shape().begin(), input.shape().end() - 3);
  const int64_t nb = int64_t(lead.size());
  Shape s = lead;
  for (int64_t v : {c / (r * r), r, r, h, w}) s.push_back(v);
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < nb; ++i) perm.push_back(i);
  for (int64_t v : {0, 3, 1, 4, 2}) perm.push_back(nb + v);
  Shape o = lead;
  for (int64_t v : {c / (r * r), h * r, w * r}) o.push_back(v);
  return reshape(permute(reshape(input, s), perm), o);
}

Tensor pixel_unshuffle(const Tensor& input, int64_t downscale_factor) {
  detail::check_defined("pixel_unshuffle", input, "input");
  const int64_t r = downscale_factor;
  KILN_CHECK_VALUE(input.dim() >= 3,
                   "pixel_unshuffle: expects input to have at least 3 dimensions, got input ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(r > 0, "pixel_unshuffle: expects a positive downscale_factor, got ", r);
  const int64_t c = input.size(-3), h = input.size(-2), w = input.size(-1);
  KILN_CHECK_VALUE(h % r == 0 && w % r == 0, "pixel_unshuffle: the height and width of input ",
                   shape_str(input.shape()), " must be divisible by downscale_factor ", r);
  Shape lead(input.shape().begin(), input.shape().end() - 3);
  const int64_t nb = int64_t(lead.size());
  Shape s = lead;
  for (int64_t v : {c, h / r, r, w / r, r}) s.push_back(v);
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < nb; ++i) perm.push_back(i);
  for (int64_t v : {0, 2, 4, 1, 3}) perm.push_back(nb + v);
  Shape o = lead;
  for (int64_t v : {c * r * r, h / r, w / r}) o.push_back(v);
  return reshape(permute(reshape(input, s), perm), o);
}

Tensor dropout2d(const Tensor& input, double p, bool training) {
  detail::check_defined("dropout2d", input, "input");
  KILN_CHECK_VALUE(p >= 0 && p <= 1,
                   "dropout2d: dropout probability has to be between 0 and 1, but got ", p);
  KILN_CHECK_VALUE(input.dim() >= 2,
                   "dropout2d: feature dropout requires at least 2 dimensions in the input, got ",
                   shape_str(input.shape()));
  if (p == 0 || !training || input.numel() == 0) return input;
  detail::check_floating("dropout2d", input, "input");
  Shape ms(size_t(input.dim()), 1);
  ms[0] = input.size(0);
  ms[1] = input.size(1);
  if (p == 1) return mul(input, zeros(ms, TensorOptions(input.dtype(), input.device())));
  Tensor keep = bernoulli(full(ms, 1 - p, input.dtype(), input.device()));
  return mul(input, div(keep, scalar_tensor(1 - p, input.dtype(), input.device())));
}

}  // namespace kiln::nn::functional
