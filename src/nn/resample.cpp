// Upsample, PixelShuffle, PixelUnshuffle, Dropout2d and the 2-D padding modules: thin wrappers
// over the functions of src/nn/functional_resample.cpp, with torch's reprs.
#include "kiln/nn/resample.h"

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include "kiln/error.h"

namespace kiln::nn {

namespace F = functional;

Upsample::Upsample(std::vector<int64_t> size, std::vector<double> scale_factor, std::string mode,
                   std::optional<bool> align_corners, std::optional<bool> recompute_scale_factor)
    : Module("Upsample"),
      size_(std::move(size)),
      scale_factor_(std::move(scale_factor)),
      mode_(std::move(mode)),
      align_corners_(align_corners),
      recompute_scale_factor_(recompute_scale_factor) {}

Tensor Upsample::forward(const Tensor& x) {
  return F::interpolate(x, size_, scale_factor_, mode_, align_corners_, recompute_scale_factor_);
}

namespace {
template <typename T>
std::string value_str(const std::vector<T>& v) {
  if (v.empty()) return "None";
  std::ostringstream s;
  auto one = [&](T x) {
    if constexpr (std::is_floating_point_v<T>)
      s << repr_double(double(x));
    else
      s << x;
  };
  if (v.size() == 1) {
    one(v[0]);
    return s.str();
  }
  s << "(";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s << ", ";
    one(v[i]);
  }
  s << ")";
  return s.str();
}
}  // namespace

std::string Upsample::extra_repr() const {
  std::string r = scale_factor_.empty() ? "size=" + value_str(size_)
                                        : "scale_factor=" + value_str(scale_factor_);
  return r + ", mode=" + mode_;  // torch 1.13 prints the mode unquoted
}

PixelShuffle::PixelShuffle(int64_t upscale_factor) : Module("PixelShuffle"), r_(upscale_factor) {}
Tensor PixelShuffle::forward(const Tensor& x) { return F::pixel_shuffle(x, r_); }
std::string PixelShuffle::extra_repr() const { return "upscale_factor=" + std::to_string(r_); }

PixelUnshuffle::PixelUnshuffle(int64_t downscale_factor)
    : Module("PixelUnshuffle"), r_(downscale_factor) {}
Tensor PixelUnshuffle::forward(const Tensor& x) { return F::pixel_unshuffle(x, r_); }
std::string PixelUnshuffle::extra_repr() const { return "downscale_factor=" + std::to_string(r_); }

Dropout2d::Dropout2d(double p) : Module("Dropout2d"), p_(p) {
  KILN_CHECK_VALUE(p >= 0 && p <= 1, "Dropout2d: probability has to be between 0 and 1, but got ",
                   p);
}
Tensor Dropout2d::forward(const Tensor& x) { return F::dropout2d(x, p_, is_training()); }
std::string Dropout2d::extra_repr() const { return "p=" + repr_double(p_) + ", inplace=False"; }

Pad2d::Pad2d(std::string name, std::vector<int64_t> pads, std::string mode, double value)
    : Module(name), pads_(std::move(pads)), mode_(std::move(mode)), value_(value) {
  if (pads_.size() == 1) pads_.assign(4, pads_[0]);
  KILN_CHECK_VALUE(pads_.size() == 4, name, ": padding must be one int or 4 ints, got ",
                   pads_.size(), " values");
}

Tensor Pad2d::forward(const Tensor& x) {
  if (mode_ == "constant") return F::pad(x, pads_, mode_, value_);
  return F::pad(x, pads_, mode_);
}

std::string Pad2d::extra_repr() const {
  if (name() == "ConstantPad2d")
    return "padding=" + value_str(pads_) + ", value=" + repr_double(value_);
  return value_str(pads_);
}

}  // namespace kiln::nn
