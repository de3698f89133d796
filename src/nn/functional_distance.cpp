// Distance functions of kiln::nn::functional (cosine_similarity, pairwise_distance), composites
// of Kiln ops like the losses in functional_loss.cpp. Semantics follow PyTorch 1.13.
#include <algorithm>
#include <optional>
#include <vector>

#include "kiln/nn/functional.h"
#include "kiln/ops.h"
#include "nn/functional_common.h"

namespace kiln::nn::functional {

using detail::check_defined;
using detail::describe;

namespace {

// The broadcast shape of x1 and x2, which must promote to a floating dtype.
Shape check_pair(const char* fn, const Tensor& x1, const Tensor& x2) {
  check_defined(fn, x1, "x1");
  check_defined(fn, x2, "x2");
  KILN_CHECK_TYPE(is_floating(promote_types(x1.dtype(), x2.dtype())), fn,
                  ": expected floating point inputs, got x1 ", describe(x1), " and x2 ",
                  describe(x2));
  try {
    return broadcast_shapes(fn, x1.shape(), x2.shape());
  } catch (const ValueError&) {
    throw ValueError(kiln::detail::concat(fn, ": x1 ", shape_str(x1.shape()), " and x2 ",
                                          shape_str(x2.shape()), " cannot be broadcast together"));
  }
}

}  // namespace

Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, int64_t dim, double eps) {
  const char* fn = "cosine_similarity";
  const Shape shape = check_pair(fn, x1, x2);
  dim = wrap_dim(fn, dim, shape);
  // The norms are taken after broadcasting (x1 [N, 1] against x2 [N, D] has norm over D
  // elements), and each is clamped on its own, as PyTorch does: x1/max(|x1|, eps) · x2/...
  // Normalizing before the product keeps large inputs from overflowing. The norm op's gradient
  // is 0 (not NaN) at a zero vector.
  Tensor a = broadcast_to(x1, shape);
  Tensor b = broadcast_to(x2, shape);
  Tensor n1 = clamp(norm(a, 2, {dim}, true), eps, std::nullopt);
  Tensor n2 = clamp(norm(b, 2, {dim}, true), eps, std::nullopt);
  return sum((a / n1) * (b / n2), {dim});
}

Tensor pairwise_distance(const Tensor& x1, const Tensor& x2, double p, double eps, bool keepdim) {
  const char* fn = "pairwise_distance";
  check_pair(fn, x1, x2);
  const int64_t out_dim = std::max(x1.dim(), x2.dim());
  // eps is added to the difference (not used as a clamp), like PyTorch, so that the norm's
  // gradient is defined when x1 == x2.
  Tensor diff = x1 - x2 + eps;
  if (out_dim == 0) return norm(diff, p, {}, keepdim);
  return norm(diff, p, {out_dim - 1}, keepdim);
}

}  // namespace kiln::nn::functional
