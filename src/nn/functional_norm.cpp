// batch_norm, group_norm and instance_norm as composites of Kiln ops (PyTorch 1.13 semantics).
// Statistics are means over the reduced dimensions of the input and of its centred square (the
// biased variance); the result is (x - mean) * rsqrt(var + eps), then the per-channel affine
// transform. Everything is ordinary differentiable ops, so backward and double backward follow.
// Running statistics are updated under NoGradGuard from detached batch statistics.
// batch_norm itself runs the fused op (src/ops/batch_norm.h) whenever it applies; its composite
// (batch_norm_composite) stays as the fused op's oracle and for the dtype mixes it does not take.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/error.h"
#include "kiln/nn/normalization.h"
#include "kiln/ops.h"
#include "nn/batch_norm_composite.h"
#include "nn/functional_common.h"
#include "ops/batch_norm.h"

namespace kiln::nn::functional {

using detail::describe;

namespace {

// [1, C, 1, ..., 1] with as many dims as the input: a per-channel vector's broadcast shape.
Shape channel_shape(int64_t dim, int64_t c) {
  Shape s(static_cast<size_t>(dim), 1);
  s[1] = c;
  return s;
}

// The dims every sample's statistic reduces over: {from, ..., dim - 1}.
std::vector<int64_t> dims_from(int64_t from, int64_t dim) {
  std::vector<int64_t> d;
  for (int64_t i = from; i < dim; ++i) d.push_back(i);
  return d;
}

void check_input(const char* fn, const Tensor& input) {
  detail::check_defined(fn, input, "input");
  detail::check_floating(fn, input, "input");
  KILN_CHECK_VALUE(input.dim() >= 2, fn,
                   ": expected an input with at least 2 dimensions [N, C, *], got ",
                   describe(input));
}

// A defined per-channel tensor must hold `c` elements.
void check_channel_vector(const char* fn, const Tensor& t, const char* what, int64_t c,
                          const Tensor& input) {
  if (!t.defined()) return;
  KILN_CHECK_VALUE(t.numel() == c, fn, ": ", what, " should contain ", c, " elements not ",
                   t.numel(), " (input shape ", shape_str(input.shape()), ", ", what, " shape ",
                   shape_str(t.shape()), ")");
  KILN_CHECK_TYPE(t.is_floating_point(), fn, ": expected a floating point ", what, ", got ",
                  describe(t));
  KILN_CHECK_VALUE(t.device() == input.device(), fn, ": ", what, " is on ", t.device().str(),
                   " but the input is on ", input.device().str());
}

// y * weight + bias, per channel (either may be undefined).
Tensor affine(Tensor y, const Tensor& weight, const Tensor& bias, const Shape& cshape) {
  if (weight.defined()) y = y * weight.reshape(cshape);
  if (bias.defined()) y = y + bias.reshape(cshape);
  return y;
}

// running = (1 - m) * running + m * batch, in place and without history.
void update_running(Tensor& running, const Tensor& batch, double m) {
  if (!running.defined()) return;
  NoGradGuard guard;
  running.copy_(running.detach() * (1.0 - m) + batch.detach() * m);
}

// Normalises `x` with statistics over `dims` (kept), returning {y, mean, biased var}.
struct Normalised {
  Tensor y, mean, var;
};
Normalised normalise_with_batch_stats(const Tensor& x, const std::vector<int64_t>& dims,
                                      double eps) {
  Tensor mu = mean(x, dims, /*keepdim=*/true);
  Tensor xc = x - mu;
  Tensor v = mean(xc * xc, dims, /*keepdim=*/true);
  return {xc * rsqrt(v + eps), mu, v};
}

// The checks batch_norm and instance_norm share; returns the [1, C, 1, ...] shape that
// broadcasts a per-channel vector over the input.
Shape check_norm_args(const char* fn, const Tensor& input, const Tensor& running_mean,
                      const Tensor& running_var, const Tensor& weight, const Tensor& bias) {
  check_input(fn, input);
  const int64_t c = input.size(1);
  check_channel_vector(fn, running_mean, "running_mean", c, input);
  check_channel_vector(fn, running_var, "running_var", c, input);
  check_channel_vector(fn, weight, "weight", c, input);
  check_channel_vector(fn, bias, "bias", c, input);
  return channel_shape(input.dim(), c);
}

// The checks batch_norm's two implementations share.
void check_batch_norm(const char* fn, const Tensor& input, const Tensor& running_mean,
                      const Tensor& running_var, const Tensor& weight, const Tensor& bias,
                      bool training) {
  check_norm_args(fn, input, running_mean, running_var, weight, bias);
  if (!training) {
    KILN_CHECK_VALUE(running_mean.defined() && running_var.defined(), fn,
                     ": running_mean and running_var must be defined in evaluation mode "
                     "(training=false)");
    return;
  }
  const int64_t c = input.size(1);
  KILN_CHECK_VALUE(input.numel() / (c == 0 ? 1 : c) != 1, fn,
                   ": Expected more than 1 value per channel when training, got input size ",
                   shape_str(input.shape()));
}

Tensor batch_norm_unchecked(const Tensor& input, const Tensor& running_mean,
                            const Tensor& running_var, const Tensor& weight, const Tensor& bias,
                            bool training, std::optional<double> momentum, double eps) {
  const int64_t dim = input.dim();
  const int64_t c = input.size(1);
  const Shape cshape = channel_shape(dim, c);
  if (!training) {
    Tensor y = (input - running_mean.reshape(cshape)) * rsqrt(running_var.reshape(cshape) + eps);
    return affine(y, weight, bias, cshape);
  }
  const int64_t n = input.numel() / (c == 0 ? 1 : c);
  std::vector<int64_t> dims = dims_from(2, dim);
  dims.insert(dims.begin(), 0);
  Normalised s = normalise_with_batch_stats(input, dims, eps);
  const double m = momentum.value_or(0.0);
  if (running_mean.defined() || running_var.defined()) {
    Tensor rm = running_mean, rv = running_var;
    update_running(rm, s.mean.reshape({c}), m);
    if (rv.defined()) {
      const double unbias = n > 1 ? double(n) / double(n - 1) : 1.0;
      update_running(rv, s.var.reshape({c}) * unbias, m);
    }
  }
  return affine(s.y, weight, bias, cshape);
}

}  // namespace

namespace detail {

Tensor batch_norm_composite(const Tensor& input, const Tensor& running_mean,
                            const Tensor& running_var, const Tensor& weight, const Tensor& bias,
                            bool training, std::optional<double> momentum, double eps) {
  check_batch_norm("batch_norm", input, running_mean, running_var, weight, bias, training);
  return batch_norm_unchecked(input, running_mean, running_var, weight, bias, training, momentum,
                              eps);
}

}  // namespace detail

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training,
                  std::optional<double> momentum, double eps) {
  check_batch_norm("batch_norm", input, running_mean, running_var, weight, bias, training);
  if (input.numel() == 0) {
    // torch: an empty batch gives an empty result (kept in the graph of weight and bias) and
    // leaves the running statistics alone.
    return affine(input.clone(), weight, bias, channel_shape(input.dim(), input.size(1)));
  }
  if (batch_norm_fusable(input, running_mean, running_var, weight, bias))
    return batch_norm_fused(input, running_mean, running_var, weight, bias, training,
                            momentum.value_or(0.0), eps);
  return batch_norm_unchecked(input, running_mean, running_var, weight, bias, training, momentum,
                              eps);
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const char* fn = "group_norm";
  check_input(fn, input);
  const int64_t c = input.size(1);
  KILN_CHECK_VALUE(num_groups > 0, fn, ": num_groups must be positive, got ", num_groups);
  KILN_CHECK_VALUE(c % num_groups == 0, fn,
                   ": Expected number of channels in input to be divisible by num_groups, but got "
                   "input of shape ",
                   shape_str(input.shape()), " and num_groups=", num_groups);
  for (const auto& [t, what] : {std::pair<const Tensor&, const char*>{weight, "weight"},
                                std::pair<const Tensor&, const char*>{bias, "bias"}}) {
    if (!t.defined()) continue;
    KILN_CHECK_VALUE(t.dim() == 1 && t.numel() == c, fn, ": Expected ", what,
                     " to be a vector of size equal to the number of channels in input, but got ",
                     what, " of shape ", shape_str(t.shape()), " and input of shape ",
                     shape_str(input.shape()));
  }
  const int64_t n = input.size(0);
  const int64_t per_group =
      num_groups == 0 ? 0 : input.numel() / (n * num_groups == 0 ? 1 : n * num_groups);
  Tensor x = input.reshape({n, num_groups, per_group});
  Tensor y = normalise_with_batch_stats(x, {2}, eps).y.reshape(input.shape());
  return affine(y, weight, bias, channel_shape(input.dim(), c));
}

Tensor instance_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                     const Tensor& weight, const Tensor& bias, bool use_input_stats,
                     std::optional<double> momentum, double eps) {
  const char* fn = "instance_norm";
  const Shape cshape = check_norm_args(fn, input, running_mean, running_var, weight, bias);
  const int64_t dim = input.dim();
  const int64_t n = input.size(0);
  const int64_t c = input.size(1);
  if (!use_input_stats) {
    KILN_CHECK_VALUE(running_mean.defined() && running_var.defined(), fn,
                     ": running_mean and running_var must be defined when use_input_stats=false");
    Tensor y = (input - running_mean.reshape(cshape)) * rsqrt(running_var.reshape(cshape) + eps);
    return affine(y, weight, bias, cshape);
  }
  int64_t spatial = 1;
  for (int64_t i = 2; i < dim; ++i) spatial *= input.size(i);
  KILN_CHECK_VALUE(spatial != 1, fn,
                   ": Expected more than 1 spatial element when training, got input size ",
                   shape_str(input.shape()));
  Normalised s = normalise_with_batch_stats(input, dims_from(2, dim), eps);
  const double m = momentum.value_or(0.0);
  if (n > 0 && (running_mean.defined() || running_var.defined())) {
    // Each instance updates its own copy of the running statistics; torch then keeps their
    // average over the batch, i.e. the running average of the batch-averaged statistics.
    Tensor rm = running_mean, rv = running_var;
    update_running(rm, mean(s.mean.reshape({n, c}), {0}), m);
    if (rv.defined()) {
      const double unbias = spatial > 1 ? double(spatial) / double(spatial - 1) : 1.0;
      update_running(rv, mean(s.var.reshape({n, c}), {0}) * unbias, m);
    }
  }
  return affine(s.y, weight, bias, cshape);
}

}  // namespace kiln::nn::functional
