// DistributedDataParallel against a single process on the concatenated batch (computed on every
// rank locally, without collectives), in float64: gradients, SGD training with equal and uneven
// per-rank batches, small buckets, no_sync accumulation, unused parameters, buffers, parameter
// checks across ranks, per-rank seeding.
//
// Loss convention: rank r's loss is (sum of its per-sample losses) * world / N, N the global
// batch; DDP averages the ranks' gradients, which is then the gradient of the full-batch mean
// loss (sum over all samples / N) whatever the per-rank batch sizes.
#include "ddp_test_util.h"
#include "kiln/distributed/ddp.h"

namespace kiln::testing {
namespace {

using distributed::DDPOptions;
using distributed::DistributedDataParallel;
using namespace ddp;

std::shared_ptr<nn::Module> make_mlp() {
  auto m = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Linear>(5, 8), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(8, 6), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(6, 3));
  m->to(dev(), DType::Float64);
  return m;
}

// A rank-dependent initialisation (DDP must replace it with rank 0's) and a reference model
// holding rank 0's weights after DDP's broadcast.
struct Replicas {
  std::shared_ptr<nn::Module> model;
  std::shared_ptr<DistributedDataParallel> ddp;
  std::shared_ptr<nn::Module> reference;
};

Replicas make_replicas(DDPOptions options = {}) {
  Replicas s;
  manual_seed(1000 + uint64_t(rank()));
  s.model = make_mlp();
  s.ddp = std::make_shared<DistributedDataParallel>(s.model, options);
  s.reference = make_mlp();
  s.reference->load_state_dict(s.model->state_dict());
  return s;
}

Tensor sum_sq(const Tensor& out, const Tensor& target) { return sum(square(out - target)); }

TEST(DDP, ConstructionBroadcastsRankZerosParameters) {
  Replicas s = make_replicas();
  expect_identical_across_ranks(*s.model);
  manual_seed(1000);  // rank 0's initialisation
  auto rank0 = make_mlp();
  expect_same_state(*s.model, *rank0, 0);
  // torch's state_dict names: the wrapped module's under "module."
  StateDict sd = s.ddp->state_dict();
  EXPECT_TRUE(sd.find("module.0.weight").has_value());
  EXPECT_TRUE(sd.find("module.4.bias").has_value());
}

TEST(DDP, GradientsEqualTheFullBatchGradient) {
  for (bool uneven : {false, true}) {
    SCOPED_TRACE(uneven ? "uneven batches" : "equal batches");
    Replicas s = make_replicas();
    const std::vector<int64_t> sizes = batch_sizes(uneven);
    const int64_t n = total(sizes);
    manual_seed(42);
    Tensor x = randn({n, 5}, f64()), t = randn({n, 3}, f64());
    Tensor loss = sum_sq((*s.ddp)(my_rows(x, sizes)), my_rows(t, sizes)) * (double(world()) / n);
    loss.backward();
    (sum_sq((*s.reference)(x), t) / double(n)).backward();
    expect_same_grads(*s.model, *s.reference, 1e-12);
  }
}

TEST(DDP, TrainingEqualsSingleProcessOnTheConcatenatedBatches) {
  for (bool uneven : {false, true}) {
    SCOPED_TRACE(uneven ? "uneven batches" : "equal batches");
    Replicas s = make_replicas();
    optim::SGD opt(s.ddp->parameters(), {.lr = 0.1, .momentum = 0.9});
    optim::SGD ref_opt(s.reference->parameters(), {.lr = 0.1, .momentum = 0.9});
    const std::vector<int64_t> sizes = batch_sizes(uneven);
    const int64_t n = total(sizes);
    for (int step = 0; step < 4; ++step) {
      manual_seed(500 + uint64_t(step));
      Tensor x = randn({n, 5}, f64()), t = randn({n, 3}, f64());
      opt.zero_grad();
      (sum_sq((*s.ddp)(my_rows(x, sizes)), my_rows(t, sizes)) * (double(world()) / n)).backward();
      opt.step();
      ref_opt.zero_grad();
      (sum_sq((*s.reference)(x), t) / double(n)).backward();
      ref_opt.step();
    }
    expect_same_state(*s.model, *s.reference, 1e-10);
    expect_identical_across_ranks(*s.model);
  }
}

TEST(DDP, SmallBucketsAreReducedInReverseOrderWithTheSameResult) {
  // 40-byte buckets, filled in reverse registration order and closed once they hold 40 bytes:
  // 4.bias (24 B) + 4.weight (144 B), then 2.bias (48 B), 2.weight, 0.bias (64 B), 0.weight.
  Replicas s = make_replicas({.bucket_cap_mb = 40.0 / (1024 * 1024)});
  EXPECT_EQ(s.ddp->bucket_assignment(),
            (std::vector<std::vector<size_t>>{{5, 4}, {3}, {2}, {1}, {0}}));
  // The default cap puts this small model in one bucket.
  EXPECT_EQ(make_replicas().ddp->bucket_assignment().size(), 1u);

  const std::vector<int64_t> sizes = batch_sizes(true);
  const int64_t n = total(sizes);
  manual_seed(43);
  Tensor x = randn({n, 5}, f64()), t = randn({n, 3}, f64());
  (sum_sq((*s.ddp)(my_rows(x, sizes)), my_rows(t, sizes)) * (double(world()) / n)).backward();
  (sum_sq((*s.reference)(x), t) / double(n)).backward();
  expect_same_grads(*s.model, *s.reference, 1e-12);
  // The hooks started the buckets of the last layers while backward still had the first
  // layer to go: at least {4.*}, {2.bias}, {2.weight} before 0.*'s gradients were ready.
  const distributed::ReductionStats& stats = s.ddp->last_reduction();
  EXPECT_EQ(stats.buckets, 5u);
  EXPECT_GE(stats.started_before_last_gradient, 3u);
  EXPECT_GE(stats.wait_seconds, 0.0);
}

TEST(DDP, NoSyncAccumulatesLocallyThenReducesTheSum) {
  Replicas s = make_replicas();
  // Three micro-batches per rank; the global batch is all of them on all ranks.
  const std::vector<int64_t> sizes = batch_sizes(true);
  const int64_t per_micro = total(sizes), n = 3 * per_micro;
  manual_seed(44);
  Tensor x = randn({n, 5}, f64()), t = randn({n, 3}, f64());
  auto micro = [&](int k, const Tensor& v) {
    return my_rows(v.narrow(0, k * per_micro, per_micro), sizes);
  };
  {
    auto guard = s.ddp->no_sync();
    for (int k = 0; k < 2; ++k)
      (sum_sq((*s.ddp)(micro(k, x)), micro(k, t)) * (double(world()) / n)).backward();
  }
  // Inside no_sync the gradients are this rank's alone.
  auto local = make_mlp();
  local->load_state_dict(s.reference->state_dict());
  for (int k = 0; k < 2; ++k)
    (sum_sq((*local)(micro(k, x)), micro(k, t)) * (double(world()) / n)).backward();
  expect_same_grads(*s.model, *local, 1e-12);

  (sum_sq((*s.ddp)(micro(2, x)), micro(2, t)) * (double(world()) / n)).backward();
  (sum_sq((*s.reference)(x), t) / double(n)).backward();
  expect_same_grads(*s.model, *s.reference, 1e-12);
}

// Three heads: `a` always used, `b` used on rank 0 only, `c` never.
struct Heads : nn::Module {
  std::shared_ptr<nn::Linear> a, b, c;
  bool use_b;
  explicit Heads(bool use_b_) : Module("Heads"), use_b(use_b_) {
    a = register_module("a", std::make_shared<nn::Linear>(4, 2));
    b = register_module("b", std::make_shared<nn::Linear>(4, 2));
    c = register_module("c", std::make_shared<nn::Linear>(4, 2));
    to(dev(), DType::Float64);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*a)(x);
    return use_b ? y + (*b)(x) : y;
  }
};

TEST(DDP, UnusedParametersAreAnErrorNamingThem) {
  auto model = std::make_shared<Heads>(true);
  DistributedDataParallel ddp(model);
  Tensor x = randn({3, 4}, f64());
  EXPECT_THROW_MSG(sum((ddp)(x)).backward(), Error, "received no gradient", "c.weight", "c.bias",
                   "find_unused_parameters");
}

TEST(DDP, FindUnusedParametersReducesWhatSomeRanksUsed) {
  manual_seed(7);
  auto model = std::make_shared<Heads>(rank() == 0);
  DistributedDataParallel ddp(model, {.find_unused_parameters = true});
  manual_seed(45);
  std::vector<Tensor> xs;
  for (int r = 0; r < world(); ++r) xs.push_back(randn({3, 4}, f64()));
  sum(ddp(xs[size_t(rank())])).backward();
  // Expected: the mean over ranks of each rank's local gradient (zero where unused).
  Tensor ga = zeros({2, 4}, f64()), gb = zeros({2, 4}, f64());
  for (int r = 0; r < world(); ++r) {
    auto local = std::make_shared<Heads>(r == 0);
    local->load_state_dict(model->state_dict());
    sum((*local)(xs[size_t(r)])).backward();
    ga = ga + local->a->weight.grad() / double(world());
    if (r == 0) gb = gb + local->b->weight.grad() / double(world());
  }
  expect_close(model->a->weight.grad(), ga, 1e-12, 1e-12, "a.weight");
  expect_close(model->b->weight.grad(), gb, 1e-12, 1e-12, "b.weight");
  // Used by no rank: its gradient is left alone (undefined), as torch.
  EXPECT_FALSE(model->c->weight.grad().defined());
  // A second iteration works the same (state is reset per forward).
  ddp.zero_grad();
  sum(ddp(xs[size_t(rank())])).backward();
  expect_close(model->a->weight.grad(), ga, 1e-12, 1e-12, "a.weight, second iteration");
}

// A module with a buffer its forward changes, like BatchNorm's num_batches_tracked.
struct Counter : nn::Module {
  Tensor count;
  std::shared_ptr<nn::Linear> fc;
  Counter() : Module("Counter") {
    fc = register_module("fc", std::make_shared<nn::Linear>(2, 2));
    count = register_buffer("count", zeros({2}));
    to(dev());
  }
  Tensor forward(const Tensor& x) override {
    {
      NoGradGuard g;
      count.add_(1);
    }
    return (*fc)(x);
  }
};

TEST(DDP, BuffersFollowRankZero) {
  for (bool broadcast : {true, false}) {
    SCOPED_TRACE(broadcast ? "broadcast_buffers" : "no broadcast_buffers");
    auto m = std::make_shared<Counter>();
    {
      NoGradGuard g;
      m->count.fill_(10.0 * rank());
    }
    DistributedDataParallel ddp(m, {.broadcast_buffers = broadcast});
    EXPECT_EQ(m->count.to_vector(), (std::vector<double>{0, 0}));  // always at construction
    {
      NoGradGuard g;
      m->count.fill_(10.0 * rank() + 5);
    }
    Tensor x = randn({1, 2}, TensorOptions(DType::Float32, dev()));
    sum(ddp(x)).backward();  // training: rank 0's buffer first, then the forward's +1
    const double expected = broadcast ? 6.0 : 10.0 * rank() + 6;
    EXPECT_EQ(m->count.to_vector(), (std::vector<double>{expected, expected}));
    ddp.eval();
    {
      NoGradGuard g;
      m->count.fill_(10.0 * rank());
      ddp(x);  // evaluation: no broadcast
    }
    EXPECT_EQ(m->count.to_vector(), (std::vector<double>{10.0 * rank() + 1, 10.0 * rank() + 1}));
  }
}

TEST(DDP, DifferentParametersAcrossRanksAreAnError) {
  auto model =
      std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(5, rank() == 1 ? 9 : 8));
  model->to(dev());
  EXPECT_THROW_MSG(DistributedDataParallel{model}, ValueError, "parameter 0", "[8, 5]", "[9, 5]",
                   "rank 1");
  // The group is still usable after every rank raised.
  Tensor one = ones({1}, TensorOptions(DType::Float32, dev()));
  group().all_reduce(one)->wait();
  EXPECT_EQ(one.item(), double(world()));
}

TEST(DDP, SeedPerRankGivesDifferentDropoutMasksAndIdenticalParameters) {
  distributed::seed_per_rank(9);
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(16, 16),
                                                std::make_shared<nn::Dropout>(0.5));
  model->to(dev());
  DistributedDataParallel ddp(model);
  expect_identical_across_ranks(*model);
  Tensor out = ddp(ones({4, 16}, TensorOptions(DType::Float32, dev()))).detach();
  Tensor mask = ne(out, zeros_like(out)).to(DType::Float32);
  std::vector<Tensor> masks = gather_all(mask);
  EXPECT_NE(masks[0].to_vector(), masks[1].to_vector());
}

}  // namespace
}  // namespace kiln::testing
