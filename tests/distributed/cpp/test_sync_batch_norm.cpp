// SyncBatchNorm against BatchNorm on the concatenated batch (computed locally on every rank),
// in float64: outputs, input/weight/bias gradients and running statistics with equal, uneven
// and empty per-rank batches; evaluation; convert_sync_batchnorm; and DDP training of a CNN and
// of an MLP whose BatchNorm layers were converted, against single-process training.
#include "ddp_test_util.h"
#include "kiln/distributed/ddp.h"
#include "kiln/distributed/sync_batch_norm.h"

namespace kiln::testing {
namespace {

using distributed::DistributedDataParallel;
using distributed::SyncBatchNorm;
using namespace ddp;

// Weight and bias away from 1 and 0, so that their gradients and effect are visible.
void randomise_affine(nn::NormBase& bn) {
  NoGradGuard g;
  manual_seed(77);
  bn.weight.copy_(rand({bn.num_features()}, f64()) + 0.5);
  bn.bias.copy_(randn({bn.num_features()}, f64()));
}

void check_against_batch_norm(const Shape& sample_shape, bool uneven, bool with_empty) {
  const int64_t c = sample_shape[0];
  const std::vector<int64_t> sizes = batch_sizes(uneven, with_empty);
  const int64_t n = total(sizes);
  Shape shape{n};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  manual_seed(31);
  Tensor x = randn(shape, f64()) * 2.0 + 1.0;
  Tensor coef = randn(shape, f64());  // loss = sum(y * coef): a generic output gradient

  SyncBatchNorm sync(c);
  std::shared_ptr<nn::BatchNormBase> bn;
  if (sample_shape.size() == 1)
    bn = std::make_shared<nn::BatchNorm1d>(c);
  else
    bn = std::make_shared<nn::BatchNorm2d>(c);
  sync.to(dev(), DType::Float64);
  bn->to(dev(), DType::Float64);
  randomise_affine(sync);
  randomise_affine(*bn);

  for (int step = 0; step < 2; ++step) {  // twice: the running statistics compound
    Tensor xr = my_rows(x, sizes).clone().requires_grad_(true);
    Tensor yr = sync(xr);
    sum(yr * my_rows(coef, sizes)).backward();
    Tensor xf = x.clone().requires_grad_(true);
    Tensor y = (*bn)(xf);
    sum(y * coef).backward();

    expect_close(yr, my_rows(y, sizes), 1e-12, 1e-12, "output");
    expect_close(xr.grad(), my_rows(xf.grad(), sizes), 1e-12, 1e-12, "input gradient");
    // Each rank's loss is its part of the total: the summed parameter gradients are the total's.
    Tensor gw = sync.weight.grad().clone(), gb = sync.bias.grad().clone();
    group().all_reduce(gw)->wait();
    group().all_reduce(gb)->wait();
    expect_close(gw, bn->weight.grad(), 1e-11, 1e-11, "weight gradient");
    expect_close(gb, bn->bias.grad(), 1e-11, 1e-11, "bias gradient");
    expect_close(sync.running_mean, bn->running_mean, 1e-12, 1e-12, "running_mean");
    expect_close(sync.running_var, bn->running_var, 1e-12, 1e-12, "running_var");
    EXPECT_EQ(sync.num_batches_tracked.item(), step + 1.0);
    sync.zero_grad();
    bn->zero_grad();
  }
  // Bit-identical on every rank: they combined the same gathered numbers in the same order.
  for (const Tensor& t : {sync.running_mean, sync.running_var}) {
    std::vector<Tensor> all = gather_all(t);
    for (int r = 1; r < world(); ++r) EXPECT_EQ(all[size_t(r)].to_vector(), all[0].to_vector());
  }

  // Evaluation: plain batch norm with the (shared) running statistics, no collective.
  sync.eval();
  bn->eval();
  if (sizes[size_t(rank())] > 0)
    expect_close(sync(my_rows(x, sizes)), my_rows((*bn)(x), sizes), 1e-12, 1e-12, "eval");
}

TEST(SyncBatchNorm, EqualsBatchNormOnTheConcatenatedBatch) {
  for (const Shape& sample : {Shape{3}, Shape{3, 2, 3}}) {
    for (bool uneven : {false, true}) {
      SCOPED_TRACE(shape_str(sample) + (uneven ? " uneven" : " equal"));
      check_against_batch_norm(sample, uneven, false);
    }
  }
}

TEST(SyncBatchNorm, ARankWithAnEmptyBatchContributesNothing) {
  for (const Shape& sample : {Shape{3}, Shape{3, 2, 3}}) {
    SCOPED_TRACE(shape_str(sample));
    check_against_batch_norm(sample, true, true);
  }
}

TEST(SyncBatchNorm, OneValuePerChannelInTotalIsAnError) {
  SyncBatchNorm sync(2);
  sync.to(dev());
  Tensor x = randn({rank() == 0 ? 1 : 0, 2}, TensorOptions(DType::Float32, dev()));
  EXPECT_THROW_MSG(sync(x), ValueError, "more than 1 value per channel", "got 1");
}

TEST(SyncBatchNorm, ConvertReplacesEveryBatchNormKeepingItsTensors) {
  auto inner = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, 4),
                                                std::make_shared<nn::BatchNorm1d>(4));
  auto bn2 = std::make_shared<nn::BatchNorm2d>(3, 1e-3, 0.2, true, true);
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Conv2d>(2, 3, 3), bn2,
                                                std::make_shared<nn::ReLU>(), inner);
  model->eval();
  const StateDict before = model->state_dict();
  const Tensor weight = bn2->weight, running_var = bn2->running_var;

  auto converted = distributed::convert_sync_batchnorm(model);
  EXPECT_EQ(converted, model);  // the root is not a BatchNorm: converted in place
  auto seq = std::dynamic_pointer_cast<nn::Sequential>(converted);
  auto s1 = std::dynamic_pointer_cast<SyncBatchNorm>((*seq)[1]);
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(std::dynamic_pointer_cast<SyncBatchNorm>(inner->children()[1]), nullptr);
  EXPECT_TRUE(s1->weight.is_same(weight));
  EXPECT_TRUE(s1->running_var.is_same(running_var));
  EXPECT_EQ(s1->eps(), 1e-3);
  EXPECT_EQ(s1->momentum(), 0.2);
  EXPECT_FALSE(s1->is_training());
  std::vector<std::string> keys, keys_before;
  for (const auto& [k, v] : converted->state_dict()) keys.push_back(k);
  for (const auto& [k, v] : before) keys_before.push_back(k);
  EXPECT_EQ(keys, keys_before);
  EXPECT_EQ(s1->repr(),
            "SyncBatchNorm(3, eps=0.001, momentum=0.2, affine=True, track_running_stats=True)");

  auto root = distributed::convert_sync_batchnorm(std::make_shared<nn::BatchNorm1d>(5));
  EXPECT_NE(std::dynamic_pointer_cast<SyncBatchNorm>(root), nullptr);
}

// Training: DDP over a model whose BatchNorm layers became SyncBatchNorm equals a single
// process training the BatchNorm model on the concatenated batches (loss convention as in
// test_ddp.cpp: rank r's loss is its sum * world / N).
void check_training(const std::function<std::shared_ptr<nn::Module>()>& make,
                    const Shape& sample_shape, int64_t outputs, bool with_empty) {
  manual_seed(2000 + uint64_t(rank()));
  auto model = distributed::convert_sync_batchnorm(make());
  DistributedDataParallel ddp(model);
  auto reference = make();
  reference->load_state_dict(model->state_dict());
  optim::SGD opt(ddp.parameters(), {.lr = 0.05, .momentum = 0.9});
  optim::SGD ref_opt(reference->parameters(), {.lr = 0.05, .momentum = 0.9});
  const std::vector<int64_t> sizes = batch_sizes(true, with_empty);
  const int64_t n = total(sizes);
  Shape shape{n};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  for (int step = 0; step < 3; ++step) {
    manual_seed(600 + uint64_t(step));
    Tensor x = randn(shape, f64()), t = randn({n, outputs}, f64());
    opt.zero_grad();
    (sum(square(ddp(my_rows(x, sizes)) - my_rows(t, sizes))) * (double(world()) / n)).backward();
    opt.step();
    ref_opt.zero_grad();
    (sum(square((*reference)(x)-t)) / double(n)).backward();
    ref_opt.step();
  }
  expect_same_state(*model, *reference, 1e-10, /*buffers=*/true);
  expect_identical_across_ranks(*model);
}

TEST(SyncBatchNorm, DDPTrainingOfACNNEqualsSingleProcess) {
  check_training(
      [] {
        auto m = std::make_shared<nn::Sequential>(
            std::make_shared<nn::Conv2d>(2, 3, 3, nn::Conv2dOptions{.padding = 1}),
            std::make_shared<nn::BatchNorm2d>(3), std::make_shared<nn::ReLU>(),
            std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(3 * 4 * 4, 2));
        m->to(dev(), DType::Float64);
        return m;
      },
      {2, 4, 4}, 2, false);
}

TEST(SyncBatchNorm, DDPTrainingOfAnMLPWithAnEmptyRankEqualsSingleProcess) {
  check_training(
      [] {
        auto m = std::make_shared<nn::Sequential>(
            std::make_shared<nn::Linear>(5, 6), std::make_shared<nn::BatchNorm1d>(6),
            std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(6, 2));
        m->to(dev(), DType::Float64);
        return m;
      },
      {5}, 2, true);
}

}  // namespace
}  // namespace kiln::testing
