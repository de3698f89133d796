#pragma once
// kiln::nn: padding, interpolation (upsampling), pixel shuffle and channel-wise dropout with the
// semantics of torch.nn.functional (PyTorch 1.13). Every function is a composite of Kiln ops
// (index_select with a precomputed index, cat, reshape/permute, mul), so it records autograd
// history (double backward included) and runs on every backend that has those kernels.
// Bad arguments raise kiln::ValueError naming the function and the shapes.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/nn/module.h"
#include "kiln/tensor.h"

namespace kiln::nn {

namespace functional {

// ---------------- padding (src/nn/functional_resample.cpp) ----------------
// pads in torch order: (last_before, last_after, second_last_before, ...), pads.size() even and
// at most 2 * input.dim(). mode "constant" (value fills; negative pads crop) | "reflect" (mirror
// without repeating the edge; each pad < the dim size) | "replicate" (repeat the edge) |
// "circular" (wrap around; each pad <= the dim size; negative pads crop first, then the positive
// ones wrap around what remains, as torch 1.13 does). As in torch 1.13 the non-constant modes
// take 2 pads on a 2-D/3-D input, 4 on a 3-D/4-D input, 6 on a 4-D/5-D input; "circular" needs
// exactly the batch and channel dims unpadded (pads.size() == 2 * (dim - 2)); they take no value.
Tensor pad(const Tensor& input, const std::vector<int64_t>& pads,
           const std::string& mode = "constant", std::optional<double> value = std::nullopt);

// ---------------- interpolation ----------------
// input [N, C, d1, ..., dk] with k = 1, 2 or 3. Exactly one of size (k values, or one value for
// every spatial dim) and scale_factor (k values, or one) is given. mode: "nearest" |
// "nearest-exact" | "linear" (3-D) | "bilinear" (4-D) | "trilinear" (5-D). align_corners only
// with the linear modes (default false). With scale_factor the output size is
// floor(in * scale); unless recompute_scale_factor is true, the source index then uses 1 / scale
// (not in / out), exactly as torch does.
Tensor interpolate(const Tensor& input, const std::vector<int64_t>& size = {},
                   const std::vector<double>& scale_factor = {},
                   const std::string& mode = "nearest",
                   std::optional<bool> align_corners = std::nullopt,
                   std::optional<bool> recompute_scale_factor = std::nullopt);

// ---------------- pixel shuffle ----------------
// [*, C * r * r, H, W] -> [*, C, H * r, W * r], and the inverse.
Tensor pixel_shuffle(const Tensor& input, int64_t upscale_factor);
Tensor pixel_unshuffle(const Tensor& input, int64_t downscale_factor);

// ---------------- channel-wise dropout ----------------
// torch's feature dropout: one Bernoulli(1 - p) draw per (dim 0, dim 1) entry, broadcast over
// the remaining dims, kept values scaled by 1 / (1 - p). A 3-D input is read as [N, C, L] (torch
// 1.13's behaviour). Needs at least 2 dims; the identity when not training or p == 0.
Tensor dropout2d(const Tensor& input, double p = 0.5, bool training = true);

}  // namespace functional

// ---------------- modules (src/nn/resample.cpp) ----------------

// torch.nn.Upsample: interpolate with a fixed size or scale factor.
class Upsample : public Module {
 public:
  Upsample(std::vector<int64_t> size, std::vector<double> scale_factor = {},
           std::string mode = "nearest", std::optional<bool> align_corners = std::nullopt,
           std::optional<bool> recompute_scale_factor = std::nullopt);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const std::string& mode() const { return mode_; }
  std::optional<bool> align_corners() const { return align_corners_; }

 private:
  std::vector<int64_t> size_;
  std::vector<double> scale_factor_;
  std::string mode_;
  std::optional<bool> align_corners_;
  std::optional<bool> recompute_scale_factor_;
};

class PixelShuffle : public Module {
 public:
  explicit PixelShuffle(int64_t upscale_factor);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t r_;
};

class PixelUnshuffle : public Module {
 public:
  explicit PixelUnshuffle(int64_t downscale_factor);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t r_;
};

class Dropout2d : public Module {
 public:
  explicit Dropout2d(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p() const { return p_; }

 private:
  double p_;
};

// Padding modules over the last two dims: pads {left, right, top, bottom}.
class Pad2d : public Module {
 public:
  Pad2d(std::string name, std::vector<int64_t> pads, std::string mode, double value = 0);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const std::vector<int64_t>& pads() const { return pads_; }

 private:
  std::vector<int64_t> pads_;
  std::string mode_;
  double value_;
};

struct ZeroPad2d : Pad2d {
  explicit ZeroPad2d(std::vector<int64_t> pads) : Pad2d("ZeroPad2d", std::move(pads), "constant") {}
};
struct ConstantPad2d : Pad2d {
  ConstantPad2d(std::vector<int64_t> pads, double value)
      : Pad2d("ConstantPad2d", std::move(pads), "constant", value) {}
};
struct ReflectionPad2d : Pad2d {
  explicit ReflectionPad2d(std::vector<int64_t> pads)
      : Pad2d("ReflectionPad2d", std::move(pads), "reflect") {}
};
struct ReplicationPad2d : Pad2d {
  explicit ReplicationPad2d(std::vector<int64_t> pads)
      : Pad2d("ReplicationPad2d", std::move(pads), "replicate") {}
};

}  // namespace kiln::nn
