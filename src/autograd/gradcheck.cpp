// Finite-difference gradient checks in float64.
#include "kiln/gradcheck.h"

#include <cmath>
#include <sstream>

#include "core/tensor_impl.h"
#include "kiln/ops.h"

namespace kiln {

namespace {

// Output elements of f, concatenated and flattened, in float64.
std::vector<double> flat_outputs(const autograd::Function& f, const std::vector<Tensor>& inputs) {
  NoGradGuard no_grad;
  std::vector<double> out;
  for (const Tensor& y : f(inputs)) {
    if (!y.defined() || !is_floating(y.dtype())) continue;
    auto v = y.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// Pointer to logical element `j` (row-major) of a strided float64 CPU tensor.
double* element(const Tensor& t, int64_t j) {
  auto* base = static_cast<double*>(t.impl()->storage()->data()) + t.storage_offset();
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    off += (j % t.shape()[size_t(d)]) * t.strides()[size_t(d)];
    j /= t.shape()[size_t(d)];
  }
  return base + off;
}

}  // namespace

Tensor numerical_jacobian(const autograd::Function& f, const std::vector<Tensor>& inputs, size_t in,
                          double eps) {
  const Tensor& x = inputs.at(in);
  KILN_CHECK_TYPE(x.dtype() == DType::Float64 && x.device().is_cpu(),
                  "gradcheck: inputs must be float64 CPU tensors, got ", dtype_name(x.dtype()));
  for (size_t d = 0; d < size_t(x.dim()); ++d)
    KILN_CHECK_VALUE(x.strides()[d] != 0 || x.shape()[d] <= 1, "gradcheck: input ", in,
                     " is an expanded view (stride 0); perturbing one "
                     "element would move several");
  const int64_t n = x.numel();
  std::vector<std::vector<double>> columns;
  for (int64_t j = 0; j < n; ++j) {
    double* p = element(x, j);
    const double orig = *p;
    *p = orig + eps;
    auto plus = flat_outputs(f, inputs);
    *p = orig - eps;
    auto minus = flat_outputs(f, inputs);
    *p = orig;
    std::vector<double> col(plus.size());
    for (size_t k = 0; k < plus.size(); ++k) col[k] = (plus[k] - minus[k]) / (2 * eps);
    columns.push_back(std::move(col));
  }
  const int64_t m =
      columns.empty() ? int64_t(flat_outputs(f, inputs).size()) : int64_t(columns[0].size());
  std::vector<double> jac(size_t(m * n));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t k = 0; k < m; ++k) jac[size_t(k * n + j)] = columns[size_t(j)][size_t(k)];
  return tensor(jac, {m, n}, DType::Float64);
}

GradcheckResult gradcheck(const autograd::Function& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt) {
  std::vector<size_t> diff;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    KILN_CHECK_TYPE(inputs[i].dtype() == DType::Float64, "gradcheck: input ", i,
                    " must be float64, got ", dtype_name(inputs[i].dtype()));
    diff.push_back(i);
  }
  KILN_CHECK_VALUE(!diff.empty(), "gradcheck: no input requires grad");

  // Analytic Jacobian, one output element at a time (rows).
  std::vector<Tensor> ys;
  {
    EnableGradGuard grad_on;
    ys = f(inputs);
  }
  std::vector<Tensor> diff_inputs;
  for (size_t i : diff) diff_inputs.push_back(inputs[i]);
  std::vector<std::vector<double>> analytic(diff.size());  // per input: row-major [m, n_i]
  int64_t m = 0;
  for (size_t o = 0; o < ys.size(); ++o) {
    if (!ys[o].defined() || !is_floating(ys[o].dtype())) continue;
    for (int64_t k = 0; k < ys[o].numel(); ++k, ++m) {
      std::vector<double> rows_for_k;
      if (!ys[o].requires_grad()) {
        for (size_t a = 0; a < diff.size(); ++a)
          analytic[a].insert(analytic[a].end(), size_t(diff_inputs[a].numel()), 0.0);
        continue;
      }
      Tensor v = zeros({ys[o].numel()}, TensorOptions(ys[o].dtype()));
      v.select(0, k).fill_(1);
      auto gs = autograd::grad({ys[o]}, diff_inputs, {v.view(ys[o].shape())}, true, false, true);
      for (size_t a = 0; a < diff.size(); ++a) {
        if (gs[a].defined()) {
          auto g = gs[a].to_vector();
          analytic[a].insert(analytic[a].end(), g.begin(), g.end());
        } else {
          analytic[a].insert(analytic[a].end(), size_t(diff_inputs[a].numel()), 0.0);
        }
      }
    }
  }

  for (size_t a = 0; a < diff.size(); ++a) {
    Tensor num = numerical_jacobian(f, inputs, diff[a], opt.eps);
    std::vector<double> nv = num.to_vector();
    const int64_t n = diff_inputs[a].numel();
    KILN_CHECK(int64_t(nv.size()) == m * n, "gradcheck: output size changed between calls");
    for (int64_t k = 0; k < m; ++k) {
      for (int64_t j = 0; j < n; ++j) {
        double an = analytic[a][size_t(k * n + j)], nu = nv[size_t(k * n + j)];
        if (std::abs(an - nu) <= opt.atol + opt.rtol * std::abs(nu)) continue;
        std::ostringstream os;
        os << "gradcheck: Jacobian mismatch for input " << diff[a] << " (shape "
           << shape_str(diff_inputs[a].shape()) << "), output element " << k << ", input element "
           << j << ": analytic " << an << " vs numerical " << nu;
        return {false, os.str()};
      }
    }
  }

  if (opt.check_second_order) {
    // The backward itself, as a function of (inputs, grad_outputs), must pass gradcheck too.
    std::vector<Tensor> us;
    for (const Tensor& y : ys) {
      if (y.defined() && y.requires_grad())
        us.push_back(randn(y.shape(), TensorOptions(DType::Float64)).requires_grad_(true));
    }
    const size_t ni = inputs.size();
    autograd::Function backward_fn = [&f, ni](const std::vector<Tensor>& all) {
      EnableGradGuard grad_on;  // the finite differences call this under no_grad
      std::vector<Tensor> xs(all.begin(), all.begin() + int64_t(ni));
      std::vector<Tensor> gos(all.begin() + int64_t(ni), all.end());
      std::vector<Tensor> outs, dx;
      for (const Tensor& y : f(xs))
        if (y.defined() && y.requires_grad()) outs.push_back(y);
      for (const Tensor& x : xs)
        if (x.defined() && x.requires_grad()) dx.push_back(x);
      auto g = autograd::grad(outs, dx, gos, true, true, true);
      for (size_t i = 0; i < g.size(); ++i)
        if (!g[i].defined()) g[i] = zeros_like(dx[i]);
      return g;
    };
    std::vector<Tensor> all = inputs;
    all.insert(all.end(), us.begin(), us.end());
    GradcheckOptions first = opt;
    first.check_second_order = false;
    GradcheckResult r = gradcheck(backward_fn, all, first);
    if (!r.ok) return {false, "second order: " + r.message};
  }
  return {};
}

}  // namespace kiln
