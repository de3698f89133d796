#pragma once
// Loss modules (torch.nn.*Loss): a module holding a loss's options, called as loss(input,
// target). Each forwards to its function in kiln::nn::functional. Class weights are registered
// as buffers named "weight" / "pos_weight", as in PyTorch, so they appear in state_dict().
#include <string>

#include "kiln/nn/functional.h"
#include "kiln/nn/module.h"

namespace kiln::nn {

// A loss of (input, target). Module::forward(x) is refused: a loss needs its target.
class Loss : public Module {
 public:
  using Module::forward;
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  const std::string& reduction() const { return reduction_; }
  std::string extra_repr() const override;

 protected:
  Loss(std::string name, std::string reduction);
  std::string reduction_;
};

class MSELoss : public Loss {
 public:
  explicit MSELoss(std::string reduction = "mean") : Loss("MSELoss", std::move(reduction)) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class L1Loss : public Loss {
 public:
  explicit L1Loss(std::string reduction = "mean") : Loss("L1Loss", std::move(reduction)) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class SmoothL1Loss : public Loss {
 public:
  explicit SmoothL1Loss(std::string reduction = "mean", double beta = 1.0)
      : Loss("SmoothL1Loss", std::move(reduction)), beta_(beta) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  double beta_;
};

class HuberLoss : public Loss {
 public:
  explicit HuberLoss(std::string reduction = "mean", double delta = 1.0)
      : Loss("HuberLoss", std::move(reduction)), delta_(delta) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  double delta_;
};

class BCELoss : public Loss {
 public:
  explicit BCELoss(Tensor weight = {}, std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(Tensor weight = {}, std::string reduction = "mean",
                             Tensor pos_weight = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(Tensor weight = {}, int64_t ignore_index = -100,
                            std::string reduction = "mean", double label_smoothing = 0.0);
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  int64_t ignore_index_;
  double label_smoothing_;
};

class NLLLoss : public Loss {
 public:
  explicit NLLLoss(Tensor weight = {}, int64_t ignore_index = -100, std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  int64_t ignore_index_;
};

class KLDivLoss : public Loss {
 public:
  explicit KLDivLoss(std::string reduction = "mean", bool log_target = false)
      : Loss("KLDivLoss", std::move(reduction)), log_target_(log_target) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;

 private:
  bool log_target_;
};

// Losses of three tensors: forward(a, b, c). Printed without options, like PyTorch.
class MarginRankingLoss : public Module {
 public:
  explicit MarginRankingLoss(double margin = 0, std::string reduction = "mean");
  Tensor forward(const Tensor& input1, const Tensor& input2, const Tensor& target);
  Tensor operator()(const Tensor& a, const Tensor& b, const Tensor& c) { return forward(a, b, c); }

 private:
  double margin_;
  std::string reduction_;
};

class CosineEmbeddingLoss : public Module {
 public:
  explicit CosineEmbeddingLoss(double margin = 0, std::string reduction = "mean");
  Tensor forward(const Tensor& input1, const Tensor& input2, const Tensor& target);
  Tensor operator()(const Tensor& a, const Tensor& b, const Tensor& c) { return forward(a, b, c); }

 private:
  double margin_;
  std::string reduction_;
};

class TripletMarginLoss : public Module {
 public:
  explicit TripletMarginLoss(double margin = 1.0, double p = 2, double eps = 1e-6,
                             bool swap = false, std::string reduction = "mean");
  Tensor forward(const Tensor& anchor, const Tensor& positive, const Tensor& negative);
  Tensor operator()(const Tensor& a, const Tensor& b, const Tensor& c) { return forward(a, b, c); }

 private:
  double margin_, p_, eps_;
  bool swap_;
  std::string reduction_;
};

}  // namespace kiln::nn
