#include "kiln/nn/loss.h"

namespace kiln::nn {

namespace F = functional;

namespace {
// Fails at construction, like PyTorch, rather than at the first call.
std::string checked_reduction(const std::string& loss, std::string reduction) {
  const bool kl = loss == "KLDivLoss";
  KILN_CHECK_VALUE(reduction == "none" || reduction == "mean" || reduction == "sum" ||
                       (kl && reduction == "batchmean"),
                   loss, ": reduction must be 'none', 'mean'",
                   kl ? ", 'sum' or 'batchmean'" : " or 'sum'", ", got '", reduction, "'");
  return reduction;
}
}  // namespace

Loss::Loss(std::string name, std::string reduction)
    : Module(name), reduction_(checked_reduction(name, std::move(reduction))) {}

// PyTorch prints losses without their options: "CrossEntropyLoss()".
std::string Loss::extra_repr() const { return ""; }

Tensor MSELoss::forward(const Tensor& x, const Tensor& y) { return F::mse_loss(x, y, reduction_); }
Tensor L1Loss::forward(const Tensor& x, const Tensor& y) { return F::l1_loss(x, y, reduction_); }
Tensor SmoothL1Loss::forward(const Tensor& x, const Tensor& y) {
  return F::smooth_l1_loss(x, y, reduction_, beta_);
}
Tensor HuberLoss::forward(const Tensor& x, const Tensor& y) {
  return F::huber_loss(x, y, reduction_, delta_);
}

namespace {
// An optional tensor from a buffer ("weight" absent when the module was built without one).
Tensor buffer_or_none(const Module& m, const std::string& name) {
  for (const auto& [n, t] : m.named_buffers(false))
    if (n == name) return t;
  return Tensor();
}
}  // namespace

BCELoss::BCELoss(Tensor weight, std::string reduction) : Loss("BCELoss", std::move(reduction)) {
  if (weight.defined()) register_buffer("weight", weight);
}
Tensor BCELoss::forward(const Tensor& x, const Tensor& y) {
  return F::binary_cross_entropy(x, y, buffer_or_none(*this, "weight"), reduction_);
}

BCEWithLogitsLoss::BCEWithLogitsLoss(Tensor weight, std::string reduction, Tensor pos_weight)
    : Loss("BCEWithLogitsLoss", std::move(reduction)) {
  if (weight.defined()) register_buffer("weight", weight);
  if (pos_weight.defined()) register_buffer("pos_weight", pos_weight);
}
Tensor BCEWithLogitsLoss::forward(const Tensor& x, const Tensor& y) {
  return F::binary_cross_entropy_with_logits(x, y, buffer_or_none(*this, "weight"),
                                             buffer_or_none(*this, "pos_weight"), reduction_);
}

CrossEntropyLoss::CrossEntropyLoss(Tensor weight, int64_t ignore_index, std::string reduction,
                                   double label_smoothing)
    : Loss("CrossEntropyLoss", std::move(reduction)),
      ignore_index_(ignore_index),
      label_smoothing_(label_smoothing) {
  if (weight.defined()) register_buffer("weight", weight);
}
Tensor CrossEntropyLoss::forward(const Tensor& x, const Tensor& y) {
  return F::cross_entropy(x, y, buffer_or_none(*this, "weight"), ignore_index_, reduction_,
                          label_smoothing_);
}

NLLLoss::NLLLoss(Tensor weight, int64_t ignore_index, std::string reduction)
    : Loss("NLLLoss", std::move(reduction)), ignore_index_(ignore_index) {
  if (weight.defined()) register_buffer("weight", weight);
}
Tensor NLLLoss::forward(const Tensor& x, const Tensor& y) {
  return F::nll_loss(x, y, buffer_or_none(*this, "weight"), ignore_index_, reduction_);
}

Tensor KLDivLoss::forward(const Tensor& x, const Tensor& y) {
  return F::kl_div(x, y, reduction_, log_target_);
}

MarginRankingLoss::MarginRankingLoss(double margin, std::string reduction)
    : Module("MarginRankingLoss"),
      margin_(margin),
      reduction_(checked_reduction("MarginRankingLoss", std::move(reduction))) {}
Tensor MarginRankingLoss::forward(const Tensor& a, const Tensor& b, const Tensor& y) {
  return F::margin_ranking_loss(a, b, y, margin_, reduction_);
}

CosineEmbeddingLoss::CosineEmbeddingLoss(double margin, std::string reduction)
    : Module("CosineEmbeddingLoss"),
      margin_(margin),
      reduction_(checked_reduction("CosineEmbeddingLoss", std::move(reduction))) {}
Tensor CosineEmbeddingLoss::forward(const Tensor& a, const Tensor& b, const Tensor& y) {
  return F::cosine_embedding_loss(a, b, y, margin_, reduction_);
}

TripletMarginLoss::TripletMarginLoss(double margin, double p, double eps, bool swap,
                                     std::string reduction)
    : Module("TripletMarginLoss"),
      margin_(margin),
      p_(p),
      eps_(eps),
      swap_(swap),
      reduction_(checked_reduction("TripletMarginLoss", std::move(reduction))) {}
Tensor TripletMarginLoss::forward(const Tensor& a, const Tensor& pos, const Tensor& neg) {
  return F::triplet_margin_loss(a, pos, neg, margin_, p_, eps_, swap_, reduction_);
}

}  // namespace kiln::nn
