#include "kiln/data/transforms.h"

#include <cstring>

#include "data/rng.h"
#include "kiln/ops.h"

namespace kiln::data {

namespace {

// The image dims of an example [C, H, W] or batch [N, C, H, W], as a batch.
struct ImageDims {
  int64_t n, c, h, w;
};
ImageDims image_dims(const char* op, const Tensor& x) {
  KILN_CHECK_VALUE(x.defined(), op, ": undefined tensor");
  KILN_CHECK_VALUE(x.dim() == 3 || x.dim() == 4, op,
                   ": expected an image [C, H, W] or a batch [N, C, H, W], got shape ",
                   shape_str(x.shape()));
  const Shape& s = x.shape();
  if (x.dim() == 3) return {1, s[0], s[1], s[2]};
  return {s[0], s[1], s[2], s[3]};
}

// A contiguous CPU copy without history: the transforms below move bytes.
Tensor cpu_contiguous(const Tensor& x) { return x.detach().cpu().contiguous(); }

}  // namespace

Tensor normalize(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& std) {
  ImageDims d = image_dims("normalize", x);
  KILN_CHECK_VALUE(mean.size() == std.size(), "normalize: ", mean.size(), " means but ", std.size(),
                   " standard deviations");
  KILN_CHECK_VALUE(int64_t(mean.size()) == d.c || mean.size() == 1, "normalize: ", mean.size(),
                   " per-channel values for an input with ", d.c, " channels (shape ",
                   shape_str(x.shape()), ")");
  for (double s : std) KILN_CHECK_VALUE(s != 0.0, "normalize: a standard deviation is zero");
  Tensor xf = x.is_floating_point() ? x : x.to(kDefaultFloat);
  const int64_t k = int64_t(mean.size());
  Tensor m = tensor(mean, {k, 1, 1}, TensorOptions(xf.dtype(), xf.device()));
  Tensor s = tensor(std, {k, 1, 1}, TensorOptions(xf.dtype(), xf.device()));
  return (xf - m) / s;
}

Tensor random_crop(const Tensor& x, int64_t size, int64_t padding, std::mt19937_64& gen) {
  ImageDims d = image_dims("random_crop", x);
  KILN_CHECK_VALUE(size > 0 && padding >= 0, "random_crop: size must be positive and padding ",
                   "non-negative, got size ", size, " and padding ", padding);
  const int64_t ph = d.h + 2 * padding, pw = d.w + 2 * padding;
  KILN_CHECK_VALUE(size <= ph && size <= pw, "random_crop: a ", size, "x", size,
                   " crop does not fit an image of ", d.h, "x", d.w, " padded by ", padding);
  Tensor src = cpu_contiguous(x);
  Shape out_shape = x.shape();
  out_shape[out_shape.size() - 2] = size;
  out_shape[out_shape.size() - 1] = size;
  Tensor out = zeros(out_shape, src.dtype());  // zero bytes are zero in every dtype
  const auto es = int64_t(element_size(src.dtype()));
  const auto* in = static_cast<const char*>(src.data_ptr());
  auto* o = static_cast<char*>(out.data_ptr());
  for (int64_t n = 0; n < d.n; ++n) {
    // Window origin in padded coordinates.
    const auto top = int64_t(detail::uniform_below(gen, uint64_t(ph - size + 1)));
    const auto left = int64_t(detail::uniform_below(gen, uint64_t(pw - size + 1)));
    const int64_t ox0 = std::max<int64_t>(0, padding - left);
    const int64_t ox1 = std::min<int64_t>(size, d.w + padding - left);
    if (ox1 <= ox0) continue;
    for (int64_t c = 0; c < d.c; ++c) {
      const char* plane = in + ((n * d.c + c) * d.h * d.w) * es;
      char* oplane = o + ((n * d.c + c) * size * size) * es;
      for (int64_t oy = 0; oy < size; ++oy) {
        const int64_t iy = top + oy - padding;
        if (iy < 0 || iy >= d.h) continue;
        const int64_t ix0 = left + ox0 - padding;
        std::memcpy(oplane + (oy * size + ox0) * es, plane + (iy * d.w + ix0) * es,
                    size_t((ox1 - ox0) * es));
      }
    }
  }
  return out.to(x.device());
}

Tensor random_horizontal_flip(const Tensor& x, double p, std::mt19937_64& gen) {
  ImageDims d = image_dims("random_horizontal_flip", x);
  KILN_CHECK_VALUE(p >= 0.0 && p <= 1.0, "random_horizontal_flip: p must be in [0, 1], got ", p);
  Tensor src = cpu_contiguous(x);
  Tensor out = src.shares_storage(x) ? src.clone() : src;  // never write into the caller's data
  const auto es = size_t(element_size(src.dtype()));
  auto* o = static_cast<char*>(out.data_ptr());
  const int64_t rows_per_example = d.c * d.h;
  for (int64_t n = 0; n < d.n; ++n) {
    if (!(detail::uniform01(gen) < p)) continue;
    for (int64_t r = 0; r < rows_per_example; ++r) {
      char* row = o + size_t((n * rows_per_example + r) * d.w) * es;
      for (int64_t a = 0, b = d.w - 1; a < b; ++a, --b) {
        char tmp[16];
        std::memcpy(tmp, row + size_t(a) * es, es);
        std::memcpy(row + size_t(a) * es, row + size_t(b) * es, es);
        std::memcpy(row + size_t(b) * es, tmp, es);
      }
    }
  }
  return out.to(x.device());
}

Tensor gaussian_noise(const Tensor& x, double std, std::mt19937_64& gen) {
  KILN_CHECK_VALUE(x.defined(), "gaussian_noise: undefined tensor");
  KILN_CHECK_TYPE(x.is_floating_point(), "gaussian_noise: expected a floating point tensor, got ",
                  dtype_name(x.dtype()));
  KILN_CHECK_VALUE(std >= 0.0, "gaussian_noise: std must be non-negative, got ", std);
  Tensor noise = empty(x.shape(), DType::Float64);
  auto* p = noise.data<double>();
  for (int64_t i = 0, n = noise.numel(); i < n; ++i) p[i] = std * detail::normal01(gen);
  return x.detach() + noise.to(x.device(), x.dtype());
}

namespace transforms {

Transform normalize(std::vector<double> mean, std::vector<double> std) {
  return [mean = std::move(mean), std = std::move(std)](const Tensor& x, std::mt19937_64&) {
    return data::normalize(x, mean, std);
  };
}
Transform random_crop(int64_t size, int64_t padding) {
  return [size, padding](const Tensor& x, std::mt19937_64& gen) {
    return data::random_crop(x, size, padding, gen);
  };
}
Transform random_horizontal_flip(double p) {
  return [p](const Tensor& x, std::mt19937_64& gen) {
    return data::random_horizontal_flip(x, p, gen);
  };
}
Transform gaussian_noise(double std) {
  return [std](const Tensor& x, std::mt19937_64& gen) { return data::gaussian_noise(x, std, gen); };
}

Tensor Compose::operator()(const Tensor& x, std::mt19937_64& gen) const {
  Tensor y = x;
  for (const Transform& t : transforms_) y = t(y, gen);
  return y;
}

}  // namespace transforms

}  // namespace kiln::data
