#pragma once
// kiln::nn::functional: loss and distance functions, named and defaulted as in
// torch.nn.functional (without the deprecated size_average/reduce arguments). Every function is a
// composite of Kiln ops, so it records autograd history (double backward included) and runs on
// any backend that has the underlying kernels.
//
// `reduction` is "none" (one loss per element or sample), "mean" or "sum"; any other string
// raises kiln::ValueError. kl_div also takes "batchmean". Errors name the function and the
// shapes: "cross_entropy: expected target of shape [4] for input [4, 3], got [5]".
#include <string>

#include "kiln/tensor.h"

namespace kiln::nn::functional {

// ---------------- regression losses (src/nn/functional_loss.cpp) ----------------
// input and target broadcast against each other (a warning is logged when their shapes differ,
// as PyTorch does, since that is usually a bug).
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
// 0.5 d² / beta where |d| < beta, else |d| - 0.5 beta; beta = 0 is l1_loss; beta < 0 is an error.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      const std::string& reduction = "mean", double beta = 1.0);
// 0.5 d² where |d| < delta, else delta (|d| - 0.5 delta); delta must be positive.
Tensor huber_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
                  double delta = 1.0);

// ---------------- binary classification ----------------
// input: probabilities in [0, 1] (checked on the host); target: the same shape, floating point;
// weight: broadcastable to input. The logarithms are clamped to >= -100 like PyTorch, so
// probabilities of exactly 0 or 1 give finite losses.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                            const std::string& reduction = "mean");
// input: logits; computed as (1 - t) x + (1 + (pos_weight - 1) t) (-log sigmoid(x)) with a
// stable log-sigmoid (finite loss and gradient for any finite logit). pos_weight broadcasts
// against the target (one entry per class along the last dimension).
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight = {}, const Tensor& pos_weight = {},
                                        const std::string& reduction = "mean");

// ---------------- multi-class classification ----------------
// input: unnormalized logits [N, C], [N, C, d1, ...] or [C]. target is either
//  - class indices (int64) of shape [N], [N, d1, ...] or [] (for input [C]), each in [0, C) or
//    equal to ignore_index (checked on the host), or
//  - class probabilities (floating point) of the same shape as input (ignore_index must then
//    stay negative).
// weight: one per class ([C]). With class indices and reduction "mean", the sum of the losses is
// divided by the sum of the weights of the non-ignored targets (their count without weights).
// label_smoothing in [0, 1] mixes the target with the uniform distribution over the C classes.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                     int64_t ignore_index = -100, const std::string& reduction = "mean",
                     double label_smoothing = 0.0);
// input: log-probabilities, shaped as for cross_entropy; target: int64 class indices.
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                int64_t ignore_index = -100, const std::string& reduction = "mean");
// input: log-probabilities; target: probabilities (log-probabilities when log_target).
// Pointwise target * (log(target) - input), 0 where target is 0. "mean" averages over every
// element (as PyTorch does); "batchmean" divides the sum by input.size(0), the true KL divergence.
Tensor kl_div(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
              bool log_target = false);

// ---------------- embedding / ranking losses ----------------
// max(d(a, p) - d(a, n) + margin, 0) with d = pairwise_distance(., ., p, eps); with swap,
// d(a, n) is replaced by min(d(a, n), d(p, n)).
Tensor triplet_margin_loss(const Tensor& anchor, const Tensor& positive, const Tensor& negative,
                           double margin = 1.0, double p = 2, double eps = 1e-6, bool swap = false,
                           const std::string& reduction = "mean");
// input1, input2: [N, D] with target [N], or [D] with a 0-d target; target 1 gives 1 - cos,
// -1 gives max(0, cos - margin), any other value 0.
Tensor cosine_embedding_loss(const Tensor& input1, const Tensor& input2, const Tensor& target,
                             double margin = 0, const std::string& reduction = "mean");
// max(0, -target (input1 - input2) + margin); the three tensors must have the same number of
// dimensions and broadcast together.
Tensor margin_ranking_loss(const Tensor& input1, const Tensor& input2, const Tensor& target,
                           double margin = 0, const std::string& reduction = "mean");

// ---------------- distances (src/nn/functional_distance.cpp) ----------------
// sum(x1 x2) / (max(||x1||, eps) max(||x2||, eps)) along dim, after broadcasting x1 and x2.
Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, int64_t dim = 1, double eps = 1e-8);
// ||x1 - x2 + eps||_p over the last dimension (of the broadcast shape).
Tensor pairwise_distance(const Tensor& x1, const Tensor& x2, double p = 2, double eps = 1e-6,
                         bool keepdim = false);

}  // namespace kiln::nn::functional
