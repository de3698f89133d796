#pragma once
// Image transforms on one example [C, H, W] or a batch [N, C, H, W]. Random transforms draw
// from an explicit generator (a batch draws per example, in order), so a loader that seeds the
// generator from (seed, epoch, batch) gives the same data on every run, whatever the threads.
#include <functional>
#include <random>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::data {

// (x - mean[c]) / std[c] per channel; the result is floating point (float32 for integer input).
Tensor normalize(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& std);
// Pads H and W by `padding` zeros on every side, then cuts a random size x size window.
Tensor random_crop(const Tensor& x, int64_t size, int64_t padding, std::mt19937_64& gen);
// Mirrors W with probability p.
Tensor random_horizontal_flip(const Tensor& x, double p, std::mt19937_64& gen);
// x + N(0, std^2) noise, elementwise.
Tensor gaussian_noise(const Tensor& x, double std, std::mt19937_64& gen);

// A transform as the loader applies it to each batch of inputs.
using Transform = std::function<Tensor(const Tensor& x, std::mt19937_64& gen)>;

namespace transforms {
Transform normalize(std::vector<double> mean, std::vector<double> std);
Transform random_crop(int64_t size, int64_t padding = 0);
Transform random_horizontal_flip(double p = 0.5);
Transform gaussian_noise(double std);

// Applies transforms in order, all drawing from the same generator.
class Compose {
 public:
  Compose(std::vector<Transform> transforms) : transforms_(std::move(transforms)) {}  // NOLINT
  Tensor operator()(const Tensor& x, std::mt19937_64& gen) const;

 private:
  std::vector<Transform> transforms_;
};
}  // namespace transforms

}  // namespace kiln::data
