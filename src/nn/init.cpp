// kiln::nn::init: the formulas of torch.nn.init on the default Philox generator.
#include "kiln/nn/init.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/log.h"
#include "kiln/ops.h"

namespace kiln::nn::init {

namespace {

void check_float(const char* fn, const Tensor& t) {
  KILN_CHECK(t.defined(), fn, ": the tensor is undefined");
  KILN_CHECK_TYPE(t.is_floating_point(), fn, ": expected a floating point tensor, got ",
                  dtype_name(t.dtype()), " of shape ", shape_str(t.shape()));
}

// Writes `value` into `t` without recording history, so that parameters (leaves that require
// grad) can be initialised in place.
Tensor write(Tensor t, const Tensor& value) {
  NoGradGuard no_grad;
  t.copy_(value);
  return t;
}

// PyTorch warns and leaves the tensor alone rather than dividing by a zero fan.
bool skip_empty(const char* fn, const Tensor& t) {
  if (t.numel() != 0) return false;
  logger()->warn("{}: initializing a zero-element tensor (shape {}) is a no-op", fn,
                 shape_str(t.shape()));
  return true;
}

int64_t fan_for_mode(const Tensor& t, const std::string& mode, const char* fn) {
  KILN_CHECK_VALUE(mode == "fan_in" || mode == "fan_out", fn, ": mode '", mode,
                   "' is not supported, please use one of fan_in, fan_out");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return mode == "fan_in" ? fan_in : fan_out;
}

// Householder QR of the m x n row-major matrix `a` (m >= n): returns the thin Q (m x n,
// row-major) with its columns' signs chosen so that R has a non-negative diagonal, which makes
// the factorisation unique (PyTorch's orthogonal_ applies the same sign fix). Householder keeps
// Q orthogonal to rounding even when `a` is badly conditioned, unlike plain Gram-Schmidt.
std::vector<double> orthonormal_columns(std::vector<double> a, int64_t m, int64_t n) {
  auto at = [&](std::vector<double>& x, int64_t i, int64_t j) -> double& {
    return x[size_t(i * n + j)];
  };
  std::vector<std::vector<double>> reflectors(static_cast<size_t>(n));
  std::vector<double> r_diag(size_t(n), 0.0);
  for (int64_t k = 0; k < n; ++k) {
    double norm = 0;
    for (int64_t i = k; i < m; ++i) norm += at(a, i, k) * at(a, i, k);
    norm = std::sqrt(norm);
    if (norm == 0) continue;  // a zero column: nothing to reflect
    // Reflect onto -sign(x0)·|x| e1 so that x0 - alpha never cancels.
    double x0 = at(a, k, k);
    double alpha = x0 > 0 ? -norm : norm;
    std::vector<double> v(size_t(m - k));
    v[0] = x0 - alpha;
    for (int64_t i = k + 1; i < m; ++i) v[size_t(i - k)] = at(a, i, k);
    double vnorm = 0;
    for (double x : v) vnorm += x * x;
    vnorm = std::sqrt(vnorm);
    for (double& x : v) x /= vnorm;
    for (int64_t j = k; j < n; ++j) {
      double dot = 0;
      for (int64_t i = k; i < m; ++i) dot += v[size_t(i - k)] * at(a, i, j);
      for (int64_t i = k; i < m; ++i) at(a, i, j) -= 2 * v[size_t(i - k)] * dot;
    }
    r_diag[size_t(k)] = alpha;
    reflectors[size_t(k)] = std::move(v);
  }
  // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity.
  std::vector<double> q(size_t(m * n), 0.0);
  for (int64_t i = 0; i < n; ++i) at(q, i, i) = 1;
  for (int64_t k = n - 1; k >= 0; --k) {
    const std::vector<double>& v = reflectors[size_t(k)];
    if (v.empty()) continue;
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t i = k; i < m; ++i) dot += v[size_t(i - k)] * at(q, i, j);
      for (int64_t i = k; i < m; ++i) at(q, i, j) -= 2 * v[size_t(i - k)] * dot;
    }
  }
  for (int64_t k = 0; k < n; ++k)
    if (r_diag[size_t(k)] < 0)
      for (int64_t i = 0; i < m; ++i) at(q, i, k) = -at(q, i, k);
  return q;
}

}  // namespace

double calculate_gain(const std::string& nonlinearity, std::optional<double> param) {
  static const char* const kLinear[] = {"linear",           "conv1d",           "conv2d",
                                        "conv3d",           "conv_transpose1d", "conv_transpose2d",
                                        "conv_transpose3d", "sigmoid"};
  for (const char* name : kLinear)
    if (nonlinearity == name) return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    double slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1 + slope * slope));
  }
  // SELU's gain makes its fan-in initialisation keep unit variance (PyTorch's value).
  if (nonlinearity == "selu") return 3.0 / 4.0;
  throw ValueError("calculate_gain: unsupported nonlinearity '" + nonlinearity + "'");
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  KILN_CHECK(t.defined(), "calculate_fan_in_and_fan_out: the tensor is undefined");
  KILN_CHECK_VALUE(t.dim() >= 2,
                   "calculate_fan_in_and_fan_out: fan in and fan out can not be computed for a "
                   "tensor with fewer than 2 dimensions, got shape ",
                   shape_str(t.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor uniform_(Tensor t, double a, double b) {
  check_float("uniform_", t);
  KILN_CHECK_VALUE(a <= b, "uniform_: expected a <= b, got a=", a, " b=", b);
  NoGradGuard no_grad;
  Tensor r = rand(t.shape(), TensorOptions(t.dtype(), t.device()));
  return write(t, r * (b - a) + a);
}

Tensor normal_(Tensor t, double mean, double std) {
  check_float("normal_", t);
  KILN_CHECK_VALUE(std >= 0, "normal_: expected std >= 0, got ", std);
  NoGradGuard no_grad;
  Tensor r = randn(t.shape(), TensorOptions(t.dtype(), t.device()));
  return write(t, r * std + mean);
}

Tensor constant_(Tensor t, double value) {
  check_float("constant_", t);
  NoGradGuard no_grad;
  t.fill_(value);
  return t;
}

Tensor zeros_(Tensor t) { return constant_(std::move(t), 0.0); }
Tensor ones_(Tensor t) { return constant_(std::move(t), 1.0); }

Tensor xavier_uniform_(Tensor t, double gain) {
  check_float("xavier_uniform_", t);
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  if (skip_empty("xavier_uniform_", t)) return t;
  double std = gain * std::sqrt(2.0 / double(fan_in + fan_out));
  double a = std::sqrt(3.0) * std;  // U(-a, a) has standard deviation a / sqrt(3)
  return uniform_(std::move(t), -a, a);
}

Tensor xavier_normal_(Tensor t, double gain) {
  check_float("xavier_normal_", t);
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  if (skip_empty("xavier_normal_", t)) return t;
  return normal_(std::move(t), 0.0, gain * std::sqrt(2.0 / double(fan_in + fan_out)));
}

Tensor kaiming_uniform_(Tensor t, double a, const std::string& mode,
                        const std::string& nonlinearity) {
  check_float("kaiming_uniform_", t);
  if (skip_empty("kaiming_uniform_", t)) return t;
  int64_t fan = fan_for_mode(t, mode, "kaiming_uniform_");
  double std = calculate_gain(nonlinearity, a) / std::sqrt(double(fan));
  double bound = std::sqrt(3.0) * std;
  return uniform_(std::move(t), -bound, bound);
}

Tensor kaiming_normal_(Tensor t, double a, const std::string& mode,
                       const std::string& nonlinearity) {
  check_float("kaiming_normal_", t);
  if (skip_empty("kaiming_normal_", t)) return t;
  int64_t fan = fan_for_mode(t, mode, "kaiming_normal_");
  double std = calculate_gain(nonlinearity, a) / std::sqrt(double(fan));
  return normal_(std::move(t), 0.0, std);
}

Tensor orthogonal_(Tensor t, double gain) {
  check_float("orthogonal_", t);
  KILN_CHECK_VALUE(t.dim() >= 2,
                   "orthogonal_: only tensors with 2 or more dimensions are supported, got shape ",
                   shape_str(t.shape()));
  if (t.numel() == 0) return t;
  const int64_t rows = t.size(0);
  const int64_t cols = t.numel() / rows;
  NoGradGuard no_grad;
  std::vector<double> g = randn({rows, cols}, DType::Float64).to_vector();
  // QR needs a tall matrix: factor the transpose of a wide one and transpose Q back, which gives
  // orthonormal rows instead of columns.
  const bool wide = rows < cols;
  const int64_t m = wide ? cols : rows;
  const int64_t n = wide ? rows : cols;
  std::vector<double> a(g.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      a[size_t(wide ? j * n + i : i * n + j)] = g[size_t(i * cols + j)];
  std::vector<double> q = orthonormal_columns(std::move(a), m, n);
  std::vector<double> out(q.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      out[size_t(i * cols + j)] = gain * q[size_t(wide ? j * n + i : i * n + j)];
  Tensor value = tensor(out, {rows, cols}, DType::Float64).reshape(t.shape());
  return write(t, value.to(t.device(), t.dtype()));
}

}  // namespace kiln::nn::init
