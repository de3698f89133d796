// The fused-or-composite choice of the optimizers (see fused.h).
#include "optim/fused.h"

#include <cmath>
#include <limits>

#include "core/tensor_impl.h"

namespace kiln::optim::fused {

double option_value(std::optional<bool> fused) {
  return fused ? double(*fused) : std::numeric_limits<double>::quiet_NaN();
}

void check_option(const std::string& optimizer, const GroupOptions& options) {
  if (!options.has(kOption)) return;  // a group restored from an older state dict: unset
  const double v = options.get(kOption);
  KILN_CHECK_VALUE(std::isnan(v) || v == 0 || v == 1, optimizer,
                   ": the option 'fused' must be unset (NaN), 0 or 1, got ", v);
}

namespace {

bool matches(const Tensor& t, const Tensor& param) {
  return t.defined() && t.device() == param.device() && t.dtype() == param.dtype() &&
         t.numel() == param.numel();
}

}  // namespace

bool eligible(const GroupOptions& options, const std::vector<Tensor>& params,
              const std::vector<Tensor>& grads, const std::vector<std::vector<Tensor>>& state) {
  const double mode =
      options.has(kOption) ? options.get(kOption) : std::numeric_limits<double>::quiet_NaN();
  if (mode == 0 || params.empty()) return false;
  const Tensor& first = params[0];
  if (!is_floating(first.dtype())) return false;
  if (std::isnan(mode) && !first.device().is_cuda()) return false;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (p.device() != first.device() || p.dtype() != first.dtype() || !p.is_contiguous())
      return false;
    if (!matches(grads[i], p)) return false;
    if (i < state.size()) {
      for (const Tensor& s : state[i])
        if (s.defined() && (!matches(s, p) || !s.is_contiguous())) return false;
    }
  }
  return true;
}

std::vector<Tensor> contiguous_grads(const std::vector<Tensor>& grads) {
  std::vector<Tensor> out;
  out.reserve(grads.size());
  for (const Tensor& g : grads) out.push_back(g.detach().contiguous());
  return out;
}

void bump_versions(const std::vector<Tensor>& written) {
  for (const Tensor& t : written) t.impl()->storage()->bump_version();
}

}  // namespace kiln::optim::fused
