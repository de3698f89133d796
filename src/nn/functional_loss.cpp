// Loss functions of kiln::nn::functional, written as composites of Kiln ops so that autograd,
// double backward and every backend come for free. Semantics follow torch.nn.functional
// (PyTorch 1.13); the few places where a formula differs from the obvious one say why.
#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/log.h"
#include "kiln/nn/functional.h"
#include "kiln/ops.h"
#include "nn/functional_common.h"

namespace kiln::nn::functional {

using detail::check_args;
using detail::check_defined;
using detail::check_floating;
using detail::describe;

namespace {

enum class Reduction { None, Mean, Sum, BatchMean };

Reduction parse_reduction(const char* fn, const std::string& reduction,
                          bool allow_batchmean = false) {
  if (reduction == "none") return Reduction::None;
  if (reduction == "mean") return Reduction::Mean;
  if (reduction == "sum") return Reduction::Sum;
  if (allow_batchmean && reduction == "batchmean") return Reduction::BatchMean;
  throw ValueError(kiln::detail::concat(fn, ": reduction must be 'none', 'mean', 'sum'",
                                        allow_batchmean ? " or 'batchmean'" : "", ", got '",
                                        reduction, "'"));
}

Tensor apply_reduction(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::None:
      return loss;
    case Reduction::Sum:
      return sum(loss);
    case Reduction::Mean:
    case Reduction::BatchMean:
      break;
  }
  return mean(loss);
}

Tensor zero_like_scalar(const Tensor& t) { return zeros({}, TensorOptions(t.dtype(), t.device())); }
Tensor scalar_like(const Tensor& t, Scalar value) { return full({}, value, t.dtype(), t.device()); }

// The broadcast shape of a and b, or an error naming both arguments.
Shape broadcast_pair(const char* fn, const char* name_a, const Tensor& a, const char* name_b,
                     const Tensor& b) {
  try {
    return broadcast_shapes(fn, a.shape(), b.shape());
  } catch (const ValueError&) {
    throw ValueError(kiln::detail::concat(fn, ": ", name_a, " ", shape_str(a.shape()), " and ",
                                          name_b, " ", shape_str(b.shape()),
                                          " cannot be broadcast together"));
  }
}

// Checks the arguments of an elementwise regression loss and returns input - target.
Tensor regression_diff(const char* fn, const Tensor& input, const Tensor& target) {
  check_args(fn, {{input, "input", true}, {target, "target", false}});
  const Shape shape = broadcast_pair(fn, "input", input, "target", target);
  if (input.shape() != target.shape()) {
    // PyTorch warns here too: a [N, 1] prediction against a [N] target silently becomes [N, N].
    // Once per function and pair of shapes, so that a training loop does not flood the log.
    static std::mutex mutex;
    static std::set<std::string> warned;
    std::string key = kiln::detail::concat(fn, shape_str(input.shape()), shape_str(target.shape()));
    std::lock_guard<std::mutex> lock(mutex);
    if (warned.insert(std::move(key)).second) {
      logger()->warn("{}: target shape {} differs from input shape {}; they broadcast to {}", fn,
                     shape_str(target.shape()), shape_str(input.shape()), shape_str(shape));
    }
  }
  return input - target;
}

void check_same_shape(const char* fn, const Tensor& input, const Tensor& target) {
  KILN_CHECK_VALUE(target.shape() == input.shape(), fn, ": expected target of shape ",
                   shape_str(input.shape()), " (the input's), got ", shape_str(target.shape()));
}

void check_broadcasts_to_input(const char* fn, const Tensor& t, const char* what,
                               const Tensor& input) {
  if (!t.defined()) return;
  check_floating(fn, t, what);
  KILN_CHECK_VALUE(broadcasts_to(t.shape(), input.shape()), fn, ": ", what, " ",
                   shape_str(t.shape()), " is not broadcastable to input ",
                   shape_str(input.shape()));
}

// max(log(x), -100) or, with `complement`, max(log(1 - x), -100), as PyTorch's
// binary_cross_entropy computes them. Where the logarithm is -inf (x = 0, or x = 1 for the
// complement) the log is taken of a harmless stand-in, so that the gradient there is 0 and not
// 0 * inf = NaN.
Tensor bce_log(const Tensor& x, bool complement) {
  Tensor finite = complement ? lt(x, scalar_like(x, 1)) : gt(x, zero_like_scalar(x));
  Tensor safe = where(finite, x, full_like(x, 0.5));
  Tensor l = clamp(complement ? log1p(-safe) : log(safe), -100.0, std::nullopt);
  return where(finite, l, full_like(l, -100.0));
}

// -log(sigmoid(x)) = max(-x, 0) + log1p(exp(-|x|)), finite for every finite x. -|x| is written as
// where(x >= 0, -x, x) rather than -abs(x): the gradient at 0 then comes from one smooth branch
// (-sigmoid(-0) = -0.5) instead of abs's subgradient 0.
Tensor neg_log_sigmoid(const Tensor& x) {
  Tensor nonneg = ge(x, zero_like_scalar(x));
  return where(nonneg, zero_like_scalar(x), -x) + log1p(exp(where(nonneg, -x, x)));
}

void check_probabilities(const char* fn, const Tensor& input) {
  if (input.numel() == 0) return;
  double lo = 0, hi = 0;
  {
    NoGradGuard guard;
    lo = amin(input).item();
    hi = amax(input).item();
  }
  KILN_CHECK_VALUE(lo >= 0 && hi <= 1, fn,
                   ": all elements of input should be between 0 and 1 (probabilities), got "
                   "values in [",
                   lo, ", ", hi, "] (input ", describe(input), ")");
}

// ---------------- class-index targets ----------------

int64_t class_dim_of(const Tensor& input) { return input.dim() == 1 ? 0 : 1; }

// The target shape that matches `input`: input's shape without the class dimension.
Shape index_target_shape(const Tensor& input) {
  Shape s = input.shape();
  s.erase(s.begin() + class_dim_of(input));
  return s;
}

void check_class_input(const char* fn, const Tensor& input) {
  KILN_CHECK_VALUE(input.dim() >= 1, fn,
                   ": expected input of shape [N, C], [N, C, d1, ...] or [C], got ",
                   shape_str(input.shape()));
}

void check_class_weight(const char* fn, const Tensor& weight, const Tensor& input) {
  if (!weight.defined()) return;
  check_floating(fn, weight, "weight");
  const int64_t c = input.size(class_dim_of(input));
  KILN_CHECK_VALUE(weight.dim() == 1 && weight.size(0) == c, fn, ": expected weight of shape [", c,
                   "] (one per class) for input ", shape_str(input.shape()), ", got ",
                   shape_str(weight.shape()));
}

// Checks an int64 class-index target against `input` (read on the host, before any kernel
// runs) and returns how many targets are not ignore_index.
int64_t check_class_target(const char* fn, const Tensor& input, const Tensor& target,
                           int64_t ignore_index) {
  const Shape expected = index_target_shape(input);
  KILN_CHECK_TYPE(target.dtype() == DType::Int64, fn,
                  ": expected an int64 target of class indices, got ", describe(target));
  KILN_CHECK_VALUE(target.shape() == expected, fn, ": expected target of shape ",
                   shape_str(expected), " for input ", shape_str(input.shape()), ", got ",
                   shape_str(target.shape()));
  const int64_t classes = input.size(class_dim_of(input));
  Tensor host = contiguous(target.to(Device::cpu()));
  const int64_t* p = host.data<int64_t>();
  int64_t valid = 0;
  for (int64_t i = 0; i < host.numel(); ++i) {
    if (p[i] == ignore_index) continue;
    KILN_CHECK_VALUE(p[i] >= 0 && p[i] < classes, fn, ": target ", p[i], " is out of bounds for ",
                     classes, " classes (input ", shape_str(input.shape()), ", ignore_index ",
                     ignore_index, ")");
    ++valid;
  }
  return valid;
}

// weight [C] viewed so that it broadcasts along the class dimension of `input`.
Tensor class_weight_view(const Tensor& weight, const Tensor& input) {
  Shape shape(size_t(input.dim()), 1);
  shape[size_t(class_dim_of(input))] = weight.size(0);
  return reshape(weight.to(input.dtype()), shape);
}

// The per-target pieces of nll_loss on log-probabilities `logp`:
//   loss[i] = -weight[t_i] * logp[i, t_i]  (0 where t_i == ignore_index),
//   denom   = sum of weight[t_i] over the non-ignored targets (their count without weights),
// the divisor of reduction "mean".
struct ClassLoss {
  Tensor loss;
  Tensor valid;       // bool, target shape: t_i != ignore_index
  Tensor weight_sum;  // 0-d, only with a weight
  int64_t count = 0;  // number of non-ignored targets
};

ClassLoss nll_terms(const Tensor& logp, const Tensor& target, const Tensor& weight,
                    int64_t ignore_index, int64_t valid_count) {
  ClassLoss out;
  out.count = valid_count;
  out.valid = ne(target, full({}, ignore_index, DType::Int64, target.device()));
  Tensor safe = masked_fill(target, logical_not(out.valid), 0);
  Tensor picked = logp.dim() == 1 ? reshape(gather(logp, 0, reshape(safe, {1})), {})
                                  : squeeze(gather(logp, 1, unsqueeze(safe, 1)), 1);
  Tensor loss = -picked;
  if (weight.defined()) {
    Tensor w = reshape(index_select(weight.to(logp.dtype()), 0, reshape(safe, {safe.numel()})),
                       target.shape());
    w = where(out.valid, w, zero_like_scalar(w));
    out.weight_sum = sum(w);
    loss = loss * w;
  }
  // where, not a product with the mask: an ignored position may hold -inf.
  out.loss = where(out.valid, loss, zero_like_scalar(loss));
  return out;
}

// Reduces a per-target loss the way nll_loss does: "mean" divides by the total weight.
Tensor reduce_class_loss(const Tensor& loss, const ClassLoss& terms, Reduction r) {
  if (r != Reduction::Mean && r != Reduction::BatchMean) return apply_reduction(loss, r);
  // 0 / 0 = NaN when every target is ignored, as in PyTorch.
  return terms.weight_sum.defined() ? sum(loss) / terms.weight_sum
                                    : sum(loss) / double(terms.count);
}

Tensor cross_entropy_probs(const Tensor& input, const Tensor& target, const Tensor& weight,
                           Reduction r, double label_smoothing) {
  const int64_t class_dim = class_dim_of(input);
  const int64_t classes = input.size(class_dim);
  Tensor logp = log_softmax(input, class_dim);
  Tensor t = label_smoothing > 0
                 ? target * (1 - label_smoothing) + label_smoothing / double(classes)
                 : target;
  Tensor prod = logp * t;
  if (weight.defined()) prod = prod * class_weight_view(weight, input);
  switch (r) {
    case Reduction::None:
      return -sum(prod, {class_dim});
    case Reduction::Sum:
      return -sum(prod);
    case Reduction::Mean:
    case Reduction::BatchMean:
      break;
  }
  // PyTorch divides by the number of samples (elements per class), NaN for an empty batch.
  const double samples =
      classes > 0 ? double(input.numel() / classes) : std::numeric_limits<double>::quiet_NaN();
  return -sum(prod) / samples;
}

}  // namespace

// ---------------- regression ----------------

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  const Reduction r = parse_reduction("mse_loss", reduction);
  return apply_reduction(square(regression_diff("mse_loss", input, target)), r);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  const Reduction r = parse_reduction("l1_loss", reduction);
  return apply_reduction(abs(regression_diff("l1_loss", input, target)), r);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction,
                      double beta) {
  const char* fn = "smooth_l1_loss";
  const Reduction r = parse_reduction(fn, reduction);
  KILN_CHECK_VALUE(beta >= 0, fn, ": beta must be non-negative, got ", beta);
  Tensor d = regression_diff(fn, input, target);
  if (beta == 0) return apply_reduction(abs(d), r);
  Tensor z = abs(d);
  return apply_reduction(where(z < beta, d * d * (0.5 / beta), z - 0.5 * beta), r);
}

Tensor huber_loss(const Tensor& input, const Tensor& target, const std::string& reduction,
                  double delta) {
  const char* fn = "huber_loss";
  const Reduction r = parse_reduction(fn, reduction);
  KILN_CHECK_VALUE(delta > 0, fn, ": delta must be positive, got ", delta);
  Tensor d = regression_diff(fn, input, target);
  Tensor z = abs(d);
  return apply_reduction(where(z < delta, d * d * 0.5, (z - 0.5 * delta) * delta), r);
}

// ---------------- binary classification ----------------

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                            const std::string& reduction) {
  const char* fn = "binary_cross_entropy";
  const Reduction r = parse_reduction(fn, reduction);
  check_args(fn, {{input, "input", true}, {target, "target", true}});
  check_same_shape(fn, input, target);
  check_broadcasts_to_input(fn, weight, "weight", input);
  check_probabilities(fn, input);
  Tensor loss = -(target * bce_log(input, false) + (1 - target) * bce_log(input, true));
  if (weight.defined()) loss = loss * weight;
  return apply_reduction(loss, r);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight, const Tensor& pos_weight,
                                        const std::string& reduction) {
  const char* fn = "binary_cross_entropy_with_logits";
  const Reduction r = parse_reduction(fn, reduction);
  check_args(fn, {{input, "input", true}, {target, "target", true}});
  check_same_shape(fn, input, target);
  check_broadcasts_to_input(fn, weight, "weight", input);
  check_broadcasts_to_input(fn, pos_weight, "pos_weight", input);
  // -[p t log s(x) + (1 - t) log(1 - s(x))] = (1 - t) x + (1 + (p - 1) t) (-log s(x)).
  Tensor nls = neg_log_sigmoid(input);
  if (pos_weight.defined()) nls = nls * ((pos_weight - 1) * target + 1);
  Tensor loss = (1 - target) * input + nls;
  if (weight.defined()) loss = loss * weight;
  return apply_reduction(loss, r);
}

// ---------------- multi-class classification ----------------

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight,
                int64_t ignore_index, const std::string& reduction) {
  const char* fn = "nll_loss";
  const Reduction r = parse_reduction(fn, reduction);
  check_args(fn, {{input, "input", true}, {target, "target", false}});
  check_class_input(fn, input);
  check_class_weight(fn, weight, input);
  const int64_t valid = check_class_target(fn, input, target, ignore_index);
  ClassLoss terms = nll_terms(input, target, weight, ignore_index, valid);
  return reduce_class_loss(terms.loss, terms, r);
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                     int64_t ignore_index, const std::string& reduction, double label_smoothing) {
  const char* fn = "cross_entropy";
  const Reduction r = parse_reduction(fn, reduction);
  check_args(fn, {{input, "input", true}, {target, "target", false}});
  check_class_input(fn, input);
  KILN_CHECK_VALUE(label_smoothing >= 0 && label_smoothing <= 1, fn,
                   ": label_smoothing must be between 0.0 and 1.0, got ", label_smoothing);
  check_class_weight(fn, weight, input);

  if (target.is_floating_point()) {
    // Class probabilities; a floating target shaped like class indices is a common mistake.
    KILN_CHECK_VALUE(target.shape() == input.shape(), fn,
                     ": expected int64 class indices of shape ",
                     shape_str(index_target_shape(input)),
                     " or floating point class probabilities of shape ", shape_str(input.shape()),
                     " for input ", shape_str(input.shape()), ", got ", describe(target));
    KILN_CHECK_VALUE(ignore_index < 0, fn,
                     ": ignore_index is not supported for class-probability targets, got ",
                     ignore_index);
    return cross_entropy_probs(input, target, weight, r, label_smoothing);
  }

  const int64_t valid = check_class_target(fn, input, target, ignore_index);
  const int64_t class_dim = class_dim_of(input);
  Tensor logp = log_softmax(input, class_dim);
  ClassLoss terms = nll_terms(logp, target, weight, ignore_index, valid);
  Tensor nll = reduce_class_loss(terms.loss, terms, r);
  if (label_smoothing == 0) return nll;

  // The smoothing term: minus the (weighted) mean log-probability over the classes, 0 for
  // ignored targets, reduced with the same divisor as the nll term.
  Tensor wlogp = weight.defined() ? logp * class_weight_view(weight, input) : logp;
  Tensor smooth = -sum(wlogp, {class_dim});
  smooth = where(terms.valid, smooth, zero_like_scalar(smooth));
  const double classes = double(input.size(class_dim));
  return nll * (1 - label_smoothing) +
         reduce_class_loss(smooth, terms, r) * (label_smoothing / classes);
}

Tensor kl_div(const Tensor& input, const Tensor& target, const std::string& reduction,
              bool log_target) {
  const char* fn = "kl_div";
  const Reduction r = parse_reduction(fn, reduction, /*allow_batchmean=*/true);
  check_args(fn, {{input, "input", true}, {target, "target", true}});
  broadcast_pair(fn, "input", input, "target", target);
  Tensor loss;
  if (log_target) {
    loss = exp(target) * (target - input);
  } else {
    // xlogy(t, t) - t * x: t log t is 0 where t is 0 (and its gradient there 0, not NaN).
    Tensor is_zero = eq(target, zero_like_scalar(target));
    Tensor safe = where(is_zero, ones_like(target), target);
    Tensor tlogt = where(is_zero, zero_like_scalar(target), target * log(safe));
    loss = tlogt - target * input;
  }
  if (r == Reduction::BatchMean) return input.dim() == 0 ? sum(loss) : sum(loss) / input.size(0);
  return apply_reduction(loss, r);
}

// ---------------- embedding / ranking ----------------

Tensor triplet_margin_loss(const Tensor& anchor, const Tensor& positive, const Tensor& negative,
                           double margin, double p, double eps, bool swap,
                           const std::string& reduction) {
  const char* fn = "triplet_margin_loss";
  const Reduction r = parse_reduction(fn, reduction);
  check_args(
      fn, {{anchor, "anchor", true}, {positive, "positive", false}, {negative, "negative", false}});
  KILN_CHECK_VALUE(anchor.dim() == positive.dim() && positive.dim() == negative.dim(), fn,
                   ": expected anchor, positive and negative with the same number of dimensions, "
                   "got ",
                   shape_str(anchor.shape()), ", ", shape_str(positive.shape()), " and ",
                   shape_str(negative.shape()));
  broadcast_pair(fn, "anchor", anchor, "positive", positive);
  broadcast_pair(fn, "anchor", anchor, "negative", negative);
  Tensor d_pos = pairwise_distance(anchor, positive, p, eps);
  Tensor d_neg = pairwise_distance(anchor, negative, p, eps);
  if (swap) d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps));
  return apply_reduction(clamp(d_pos - d_neg + margin, 0.0, std::nullopt), r);
}

Tensor cosine_embedding_loss(const Tensor& input1, const Tensor& input2, const Tensor& target,
                             double margin, const std::string& reduction) {
  const char* fn = "cosine_embedding_loss";
  const Reduction r = parse_reduction(fn, reduction);
  check_args(fn, {{input1, "input1", true}, {input2, "input2", true}, {target, "target", false}});
  const int64_t td = target.dim();
  KILN_CHECK_VALUE(td == 0 || td == 1, fn, ": expected a 0-D or 1-D target, got ",
                   shape_str(target.shape()));
  KILN_CHECK_VALUE(input1.dim() == td + 1 && input2.dim() == td + 1, fn, ": a ", td,
                   "-D target expects ", td + 1, "-D inputs, got input1 ",
                   shape_str(input1.shape()), " and input2 ", shape_str(input2.shape()));
  const Shape shape = broadcast_pair(fn, "input1", input1, "input2", input2);
  if (td == 1) {
    KILN_CHECK_VALUE(broadcasts_to(target.shape(), {shape[0]}), fn, ": expected target of shape [",
                     shape[0], "] for inputs ", shape_str(input1.shape()), " and ",
                     shape_str(input2.shape()), ", got ", shape_str(target.shape()));
  }
  // PyTorch's formula, with its epsilon inside the squared norms.
  constexpr double kEps = 1e-12;
  Tensor dot12 = sum(input1 * input2, {td});
  Tensor sq1 = sum(input1 * input1, {td}) + kEps;
  Tensor sq2 = sum(input2 * input2, {td}) + kEps;
  Tensor cos = dot12 / sqrt(sq1 * sq2);
  Tensor zero = zero_like_scalar(cos);
  Tensor pos = where(eq(target, scalar_like(target, 1)), 1 - cos, zero);
  Tensor neg =
      where(eq(target, scalar_like(target, -1)), clamp(cos - margin, 0.0, std::nullopt), zero);
  return apply_reduction(pos + neg, r);
}

Tensor margin_ranking_loss(const Tensor& input1, const Tensor& input2, const Tensor& target,
                           double margin, const std::string& reduction) {
  const char* fn = "margin_ranking_loss";
  const Reduction r = parse_reduction(fn, reduction);
  check_args(fn, {{input1, "input1", true}, {input2, "input2", true}, {target, "target", false}});
  KILN_CHECK_VALUE(input1.dim() == input2.dim() && input1.dim() == target.dim(), fn,
                   ": expected input1, input2 and target with the same number of dimensions, "
                   "got ",
                   shape_str(input1.shape()), ", ", shape_str(input2.shape()), " and ",
                   shape_str(target.shape()));
  broadcast_pair(fn, "input1", input1, "input2", input2);
  Tensor diff = input1 - input2;
  broadcast_pair(fn, "inputs", diff, "target", target);
  return apply_reduction(clamp(-target * diff + margin, 0.0, std::nullopt), r);
}

}  // namespace kiln::nn::functional
