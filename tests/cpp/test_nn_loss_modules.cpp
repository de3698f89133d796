// Loss modules: the same values as their functions, weights as buffers, PyTorch's repr.
#include "test_util.h"

namespace kiln::testing {
namespace {

namespace F = nn::functional;

TEST(LossModules, MatchTheirFunctions) {
  manual_seed(1);
  Tensor x = randn({4, 3}), y = randn({4, 3});
  Tensor labels = tensor(std::vector<int64_t>{2, 0, 1, 1});
  Tensor w = tensor({0.5, 1.0, 2.0});
  Tensor p = sigmoid(randn({4, 3})), t = rand({4, 3});
  expect_close(nn::MSELoss()(x, y), F::mse_loss(x, y), 0, 0);
  expect_close(nn::L1Loss("sum")(x, y), F::l1_loss(x, y, "sum"), 0, 0);
  expect_close(nn::SmoothL1Loss("mean", 0.5)(x, y), F::smooth_l1_loss(x, y, "mean", 0.5), 0, 0);
  expect_close(nn::HuberLoss("none", 2.0)(x, y), F::huber_loss(x, y, "none", 2.0), 0, 0);
  expect_close(nn::BCELoss(w)(p, t), F::binary_cross_entropy(p, t, w), 0, 0);
  expect_close(nn::BCEWithLogitsLoss({}, "mean", w)(x, t),
               F::binary_cross_entropy_with_logits(x, t, {}, w), 0, 0);
  expect_close(nn::CrossEntropyLoss(w, 1, "mean", 0.1)(x, labels),
               F::cross_entropy(x, labels, w, 1, "mean", 0.1), 0, 0);
  expect_close(nn::NLLLoss()(log_softmax(x, 1), labels), F::nll_loss(log_softmax(x, 1), labels), 0,
               0);
  expect_close(nn::KLDivLoss("batchmean")(log_softmax(x, 1), softmax(y, 1)),
               F::kl_div(log_softmax(x, 1), softmax(y, 1), "batchmean"), 0, 0);
  Tensor s = tensor({1.0, -1.0, 1.0, -1.0});
  expect_close(nn::MarginRankingLoss(0.2)(x.select(1, 0), y.select(1, 0), s),
               F::margin_ranking_loss(x.select(1, 0), y.select(1, 0), s, 0.2), 0, 0);
  expect_close(nn::CosineEmbeddingLoss(0.1)(x, y, s), F::cosine_embedding_loss(x, y, s, 0.1), 0, 0);
  expect_close(nn::TripletMarginLoss(0.5)(x, y, p), F::triplet_margin_loss(x, y, p, 0.5), 0, 0);
}

TEST(LossModules, WeightsAreBuffersAndReprIsPyTorchs) {
  nn::CrossEntropyLoss weighted(tensor({1.0, 2.0}));
  StateDict sd = weighted.state_dict();
  ASSERT_EQ(sd.keys(), std::vector<std::string>{"weight"});
  EXPECT_TRUE(weighted.parameters().empty());
  EXPECT_TRUE(nn::CrossEntropyLoss().state_dict().empty());
  EXPECT_EQ(weighted.repr(), "CrossEntropyLoss()");
  EXPECT_EQ(nn::TripletMarginLoss().repr(), "TripletMarginLoss()");
  EXPECT_THROW_MSG(nn::MSELoss("average"), ValueError, "MSELoss", "average");
  Tensor x = ones({2, 2}).requires_grad_(true);
  nn::MSELoss mse;
  mse(x, zeros({2, 2})).backward();
  expect_values(x.grad(), {2, 2}, {0.5, 0.5, 0.5, 0.5});
}

}  // namespace
}  // namespace kiln::testing
