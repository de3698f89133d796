// Learning-rate schedulers: lr sequences against values computed by hand from each schedule's
// formula, and against PyTorch 1.13 (numbers printed once by Debian's python3-torch, 1.13.0a0,
// with repr(); the script is quoted next to each table), plus state dict round trips.
#include <cmath>
#include <memory>
#include <numbers>

#include "kiln/optim/optim.h"
#include "test_util.h"

namespace kiln::optim {
namespace {

// One scalar parameter per group, group g with lr lrs[g].
struct Fixture {
  std::vector<Tensor> params;
  std::unique_ptr<Optimizer> opt;
};

Fixture make_sgd(std::vector<double> lrs, double momentum = 0) {
  Fixture f;
  std::vector<ParamGroup> groups;
  for (double lr : lrs) {
    f.params.push_back(zeros({1}).requires_grad_());
    groups.push_back({{f.params.back()}, {{"lr", lr}}});
  }
  f.opt = std::make_unique<SGD>(groups, SGDOptions{.lr = 1.0, .momentum = momentum});
  return f;
}

std::vector<double> lrs_of(const Optimizer& opt) {
  std::vector<double> lrs;
  for (const auto& g : opt.param_groups()) lrs.push_back(g.options.lr());
  return lrs;
}

// Reads get_last_lr() n times, stepping the optimizer and the scheduler in between.
std::vector<std::vector<double>> run(Optimizer& opt, LRScheduler& sched, int n) {
  std::vector<std::vector<double>> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(sched.get_last_lr());
    EXPECT_EQ(sched.get_last_lr(), lrs_of(opt)) << "the optimizer's lrs at epoch " << i;
    if (i + 1 < n) {
      opt.step();
      sched.step();
    }
  }
  return out;
}

void expect_sequence(const std::vector<std::vector<double>>& actual,
                     const std::vector<std::vector<double>>& expected, double tol,
                     const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i) {
    ASSERT_EQ(actual[i].size(), expected[i].size()) << what << " epoch " << i;
    for (size_t g = 0; g < actual[i].size(); ++g) {
      if (tol == 0) {
        EXPECT_EQ(actual[i][g], expected[i][g]) << what << " epoch " << i << " group " << g;
      } else {
        EXPECT_NEAR(actual[i][g], expected[i][g], tol * std::abs(expected[i][g]) + 1e-300)
            << what << " epoch " << i << " group " << g;
      }
    }
  }
}

// ---------------- StepLR, MultiStepLR, ExponentialLR ----------------

TEST(LRScheduler, StepLRHalvesEveryThreeEpochsPerGroup) {
  auto f = make_sgd({0.1, 0.01});
  StepLR sched(*f.opt, 3, 0.5);
  EXPECT_EQ(sched.base_lrs(), (std::vector<double>{0.1, 0.01}));
  auto seq = run(*f.opt, sched, 10);
  // By hand: lr = base * 0.5^(epoch / 3).
  for (int e = 0; e < 10; ++e) {
    EXPECT_DOUBLE_EQ(seq[e][0], 0.1 * std::pow(0.5, e / 3)) << e;
    EXPECT_DOUBLE_EQ(seq[e][1], 0.01 * std::pow(0.5, e / 3)) << e;
  }
  // PyTorch 1.13: StepLR(SGD groups lr 0.1 and 0.01, step_size=3, gamma=0.5).
  expect_sequence(seq,
                  {{0.1, 0.01},
                   {0.1, 0.01},
                   {0.1, 0.01},
                   {0.05, 0.005},
                   {0.05, 0.005},
                   {0.05, 0.005},
                   {0.025, 0.0025},
                   {0.025, 0.0025},
                   {0.025, 0.0025},
                   {0.0125, 0.00125}},
                  0, "StepLR vs PyTorch");
  EXPECT_EQ(sched.last_epoch(), 9);
}

TEST(LRScheduler, MultiStepLRCountsRepeatedMilestones) {
  auto f = make_sgd({0.1});
  MultiStepLR sched(*f.opt, {8, 5, 2, 5}, 0.1);  // unsorted; 5 twice: gamma^2 there
  auto seq = run(*f.opt, sched, 10);
  const double hand[] = {0.1, 0.1, 0.01, 0.01, 0.01, 1e-4, 1e-4, 1e-4, 1e-5, 1e-5};
  for (int e = 0; e < 10; ++e) EXPECT_NEAR(seq[e][0], hand[e], 1e-15 * hand[e] * 10) << e;
  // PyTorch 1.13: MultiStepLR(SGD lr 0.1, milestones=[2, 5, 5, 8], gamma=0.1), bit for bit.
  expect_sequence(seq,
                  {{0.1},
                   {0.1},
                   {0.010000000000000002},
                   {0.010000000000000002},
                   {0.010000000000000002},
                   {0.00010000000000000005},
                   {0.00010000000000000005},
                   {0.00010000000000000005},
                   {1.0000000000000006e-05},
                   {1.0000000000000006e-05}},
                  0, "MultiStepLR vs PyTorch");
}

TEST(LRScheduler, ExponentialLR) {
  auto f = make_sgd({0.1});
  ExponentialLR sched(*f.opt, 0.9);
  auto seq = run(*f.opt, sched, 6);
  for (int e = 0; e < 6; ++e) EXPECT_NEAR(seq[e][0], 0.1 * std::pow(0.9, e), 1e-16) << e;
  // PyTorch 1.13: ExponentialLR(SGD lr 0.1, gamma=0.9), bit for bit (chainable form).
  expect_sequence(seq,
                  {{0.1},
                   {0.09000000000000001},
                   {0.08100000000000002},
                   {0.07290000000000002},
                   {0.06561000000000002},
                   {0.05904900000000002}},
                  0, "ExponentialLR vs PyTorch");
}

// ---------------- CosineAnnealingLR ----------------

TEST(LRScheduler, CosineAnnealingClosedFormAndPastTMax) {
  auto f = make_sgd({0.1});
  CosineAnnealingLR sched(*f.opt, 4, 0.001);
  auto seq = run(*f.opt, sched, 11);
  for (int e = 0; e < 11; ++e) {
    const double hand = 0.001 + (0.1 - 0.001) * (1 + std::cos(std::numbers::pi * e / 4)) / 2;
    EXPECT_DOUBLE_EQ(seq[e][0], hand) << e;
  }
  EXPECT_DOUBLE_EQ(seq[2][0], 0.0505);  // halfway: the mean of base and eta_min
  EXPECT_DOUBLE_EQ(seq[4][0], 0.001);   // T_max: eta_min
  EXPECT_DOUBLE_EQ(seq[8][0], 0.1);     // 2 T_max: back to the base lr
  // PyTorch 1.13 (recursive form, so equal to ~1e-15 rather than bit for bit):
  // CosineAnnealingLR(SGD lr 0.1, T_max=4, eta_min=0.001).
  expect_sequence(seq,
                  {{0.1},
                   {0.0855017856687341},
                   {0.0505},
                   {0.0154982143312659},
                   {0.001},
                   {0.015498214331265896},
                   {0.05050000000000001},
                   {0.08550178566873413},
                   {0.10000000000000003},
                   {0.08550178566873413},
                   {0.05050000000000003}},
                  1e-12, "CosineAnnealingLR vs PyTorch");
}

// ---------------- LinearLR ----------------

TEST(LRScheduler, LinearLRWarmUp) {
  auto f = make_sgd({0.1});
  LinearLR sched(*f.opt, 0.25, 1.0, 4);
  auto seq = run(*f.opt, sched, 7);
  // By hand: factor = 0.25 + 0.75 * min(epoch, 4) / 4.
  for (int e = 0; e < 7; ++e)
    EXPECT_NEAR(seq[e][0], 0.1 * (0.25 + 0.75 * std::min(e, 4) / 4.0), 1e-15) << e;
  // PyTorch 1.13: LinearLR(SGD lr 0.1, start_factor=0.25, end_factor=1.0, total_iters=4).
  expect_sequence(seq,
                  {{0.025},
                   {0.043750000000000004},
                   {0.06250000000000001},
                   {0.08125000000000002},
                   {0.10000000000000002},
                   {0.10000000000000002},
                   {0.10000000000000002}},
                  0, "LinearLR vs PyTorch");
}

TEST(LRScheduler, LinearLRDecreasing) {
  auto f = make_sgd({0.1});
  LinearLR sched(*f.opt, 0.5, 0.2, 3);
  auto seq = run(*f.opt, sched, 6);
  // PyTorch 1.13: LinearLR(SGD lr 0.1, start_factor=0.5, end_factor=0.2, total_iters=3).
  expect_sequence(seq,
                  {{0.05},
                   {0.04000000000000001},
                   {0.030000000000000006},
                   {0.020000000000000007},
                   {0.020000000000000007},
                   {0.020000000000000007}},
                  0, "LinearLR (decreasing) vs PyTorch");
}

TEST(LRScheduler, ChainedSchedulersMultiplyLikePyTorch) {
  auto f = make_sgd({0.1});
  LinearLR warm(*f.opt, 0.5, 1.0, 2);
  ExponentialLR decay(*f.opt, 0.9);
  EXPECT_EQ(decay.base_lrs(), std::vector<double>{0.1});  // both start from "initial_lr"
  std::vector<double> seq;
  for (int i = 0; i < 5; ++i) {
    seq.push_back(f.opt->param_groups()[0].options.lr());
    f.opt->step();
    warm.step();
    decay.step();
  }
  // By hand: 0.1 * warm-up factor (0.5, 0.75, 1, 1, 1) * 0.9^epoch.
  const double warmf[] = {0.5, 0.75, 1, 1, 1};
  for (int e = 0; e < 5; ++e) EXPECT_NEAR(seq[e], 0.1 * warmf[e] * std::pow(0.9, e), 1e-15);
  // PyTorch 1.13: LinearLR(o, 0.5, 1.0, 2) and ExponentialLR(o, 0.9) on one SGD (lr 0.1).
  const std::vector<double> torch = {0.05, 0.06750000000000002, 0.08100000000000003,
                                     0.07290000000000003, 0.06561000000000003};
  for (int e = 0; e < 5; ++e) EXPECT_EQ(seq[e], torch[e]) << e;
}

// ---------------- OneCycleLR ----------------

TEST(LRScheduler, OneCycleCosineCyclesSGDMomentum) {
  auto f = make_sgd({0.1}, 0.9);
  OneCycleLR sched(*f.opt, 1.0, 10);
  const auto& g = f.opt->param_groups()[0].options;
  EXPECT_DOUBLE_EQ(g.get("initial_lr"), 0.04);
  EXPECT_DOUBLE_EQ(g.get("max_lr"), 1.0);
  EXPECT_DOUBLE_EQ(g.get("min_lr"), 0.04 / 1e4);
  std::vector<std::vector<double>> seq, mom;
  for (int i = 0; i < 11; ++i) {
    seq.push_back(sched.get_last_lr());
    mom.push_back({f.opt->param_groups()[0].options.get("momentum")});
    if (i < 10) {
      f.opt->step();
      sched.step();
    }
  }
  // By hand: phase 1 ends at step 0.3 * 10 - 1 = 2, phase 2 at 9; cosine annealing
  // a(s, e, pct) = e + (s - e) / 2 * (1 + cos(pi pct)).
  auto cos_anneal = [](double s, double e, double pct) {
    return e + (s - e) / 2 * (1 + std::cos(std::numbers::pi * pct));
  };
  for (int t = 0; t <= 10; ++t) {
    double lr, m;
    if (t <= 2) {
      lr = cos_anneal(0.04, 1.0, t / 2.0);
      m = cos_anneal(0.95, 0.85, t / 2.0);
    } else {
      lr = cos_anneal(1.0, 4e-6, (t - 2) / 7.0);
      m = cos_anneal(0.85, 0.95, (t - 2) / 7.0);
    }
    EXPECT_NEAR(seq[t][0], lr, 1e-14) << t;
    EXPECT_NEAR(mom[t][0], m, 1e-14) << t;
  }
  // PyTorch 1.13: OneCycleLR(SGD(lr 0.1, momentum 0.9), max_lr=1.0, total_steps=10).
  expect_sequence(seq,
                  {{0.040000000000000036},
                   {0.52},
                   {1.0},
                   {0.9504846320134737},
                   {0.8117456539497631},
                   {0.6112620219362893},
                   {0.38874197806371075},
                   {0.18825834605023697},
                   {0.049519367986526286},
                   {4e-06},
                   {0.04951936798652623}},
                  0, "OneCycleLR lr vs PyTorch");
  expect_sequence(mom,
                  {{0.95},
                   {0.8999999999999999},
                   {0.85},
                   {0.854951556604879},
                   {0.8688255099070633},
                   {0.8888739533021842},
                   {0.9111260466978157},
                   {0.9311744900929366},
                   {0.945048443395121},
                   {0.95},
                   {0.945048443395121}},
                  0, "OneCycleLR momentum vs PyTorch");
  EXPECT_THROW_MSG(sched.step(), ValueError, "OneCycleLR", "total steps is 10");
}

TEST(LRScheduler, OneCycleLinearCyclesAdamBeta1) {
  auto p = zeros({1}).requires_grad_();
  Adam opt({p}, {.lr = 0.1});
  OneCycleLR sched(opt, std::vector<double>{0.5}, 8,
                   {.pct_start = 0.25, .anneal_strategy = "linear"});
  std::vector<std::vector<double>> seq, beta1;
  for (int i = 0; i < 9; ++i) {
    seq.push_back(sched.get_last_lr());
    beta1.push_back({opt.param_groups()[0].options.get("beta1")});
    if (i < 8) sched.step();
  }
  EXPECT_EQ(opt.param_groups()[0].options.get("beta2"), 0.999);  // untouched
  // PyTorch 1.13: OneCycleLR(Adam(lr 0.1), [0.5], total_steps=8, anneal_strategy='linear',
  // pct_start=0.25); momentum read from group['betas'][0].
  expect_sequence(seq,
                  {{0.02},
                   {0.5},
                   {0.416667},
                   {0.333334},
                   {0.25000100000000003},
                   {0.16666800000000004},
                   {0.08333499999999999},
                   {2.000000000002e-06},
                   {-0.08333100000000004}},
                  0, "OneCycleLR linear vs PyTorch");
  expect_sequence(beta1,
                  {{0.95},
                   {0.85},
                   {0.8666666666666667},
                   {0.8833333333333333},
                   {0.8999999999999999},
                   {0.9166666666666666},
                   {0.9333333333333333},
                   {0.95},
                   {0.9666666666666667}},
                  0, "OneCycleLR beta1 vs PyTorch");
  // By hand, phase 2 (steps 1..7): lr = 0.5 + (2e-6 - 0.5) * (t - 1) / 6.
  for (int t = 1; t <= 7; ++t) EXPECT_NEAR(seq[t][0], 0.5 + (2e-6 - 0.5) * (t - 1) / 6, 1e-15);
}

TEST(LRScheduler, OneCycleThreePhasesTwoGroups) {
  auto f = make_sgd({0.1, 0.2}, 0.9);
  OneCycleLR sched(*f.opt, std::vector<double>{1.0, 2.0}, 10,
                   {.div_factor = 10, .final_div_factor = 100, .three_phase = true});
  std::vector<std::vector<double>> seq, mom;
  for (int i = 0; i < 11; ++i) {
    seq.push_back(sched.get_last_lr());
    mom.push_back({f.opt->param_groups()[0].options.get("momentum"),
                   f.opt->param_groups()[1].options.get("momentum")});
    if (i < 10) sched.step();
  }
  // PyTorch 1.13: OneCycleLR(SGD groups lr 0.1/0.2 momentum 0.9, [1.0, 2.0], total_steps=10,
  // three_phase=True, div_factor=10, final_div_factor=100).
  expect_sequence(seq,
                  {{0.09999999999999998, 0.19999999999999996},
                   {0.55, 1.1},
                   {1.0, 2.0},
                   {0.55, 1.1},
                   {0.1, 0.2},
                   {0.0905463412215599, 0.1810926824431198},
                   {0.0657963412215599, 0.1315926824431198},
                   {0.03520365877844011, 0.07040731755688022},
                   {0.010453658778440109, 0.020907317556880217},
                   {0.001, 0.002},
                   {0.010453658778440095, 0.02090731755688019}},
                  0, "OneCycleLR three-phase vs PyTorch");
  const double m[] = {0.95, 0.8999999999999999, 0.85, 0.8999999999999999, 0.95};
  for (int t = 0; t < 11; ++t) {
    EXPECT_EQ(mom[t][0], t < 5 ? m[t] : 0.95) << t;
    EXPECT_EQ(mom[t][1], mom[t][0]) << t;
  }
}

TEST(LRScheduler, OneCycleWithoutMomentumOnlySchedulesLr) {
  auto p = zeros({1}).requires_grad_();
  Adagrad opt({p}, {.lr = 0.1});
  OneCycleLR sched(opt, 1.0, 4);
  EXPECT_FALSE(opt.param_groups()[0].options.has("momentum"));
  EXPECT_FALSE(opt.param_groups()[0].options.has("max_momentum"));
  EXPECT_NEAR(sched.get_last_lr()[0], 0.04, 1e-15);
}

TEST(LRScheduler, OneCycleArgumentErrors) {
  auto f = make_sgd({0.1, 0.2});
  EXPECT_THROW_MSG(OneCycleLR(*f.opt, std::vector<double>{1, 2, 3}, 10), ValueError,
                   "expected 2 values for max_lr, got 3");
  EXPECT_THROW_MSG(OneCycleLR(*f.opt, 1.0, 0), ValueError, "total_steps");
  EXPECT_THROW_MSG(OneCycleLR(*f.opt, 1.0, 10, {.anneal_strategy = "cosine"}), ValueError,
                   "anneal_strategy must be 'cos' or 'linear'");
  EXPECT_THROW_MSG(OneCycleLR(*f.opt, 1.0, 10, {.pct_start = 1.5}), ValueError, "pct_start");
}

// ---------------- ReduceLROnPlateau ----------------

TEST(LRScheduler, ReduceLROnPlateauMinRel) {
  auto f = make_sgd({1.0, 0.5});
  ReduceLROnPlateau sched(*f.opt, {.factor = 0.5, .patience = 2});
  const std::vector<double> metrics = {10, 9, 9.5, 9.2, 9.1, 8.0, 8.5, 8.5, 8.5, 8.5};
  std::vector<std::vector<double>> seq;
  for (double m : metrics) {
    sched.step(m);
    seq.push_back(lrs_of(*f.opt));
    EXPECT_EQ(sched.get_last_lr(), seq.back());
  }
  // By hand: best 9 at epoch 2; 9.5, 9.2, 9.1 are three bad epochs (> patience 2): halve at
  // epoch 5; 8.0 improves; 8.5 x3 are bad: halve again at epoch 9.
  // PyTorch 1.13: ReduceLROnPlateau(SGD groups lr 1.0/0.5, patience=2, factor=0.5).
  expect_sequence(seq,
                  {{1.0, 0.5},
                   {1.0, 0.5},
                   {1.0, 0.5},
                   {1.0, 0.5},
                   {0.5, 0.25},
                   {0.5, 0.25},
                   {0.5, 0.25},
                   {0.5, 0.25},
                   {0.25, 0.125},
                   {0.25, 0.125}},
                  0, "ReduceLROnPlateau min/rel vs PyTorch");
  EXPECT_EQ(sched.best(), 8.0);
}

TEST(LRScheduler, ReduceLROnPlateauMaxAbsCooldownMinLr) {
  auto f = make_sgd({1.0, 0.5});
  ReduceLROnPlateau sched(*f.opt, {.mode = "max",
                                   .factor = 0.1,
                                   .patience = 1,
                                   .threshold = 0.1,
                                   .threshold_mode = "abs",
                                   .cooldown = 2,
                                   .min_lr = {0.02, 0.001}});
  const std::vector<double> metrics = {1, 2, 2.05, 2.5, 2.55, 2.58, 2.6, 2.6, 2.6, 2.6};
  std::vector<std::vector<double>> seq;
  for (double m : metrics) {
    sched.step(m);
    seq.push_back(lrs_of(*f.opt));
  }
  // By hand: improvements need +0.1 over the best: 2.05 is bad; 2.5 improves; 2.55, 2.58 are
  // two bad epochs (> patience 1): x0.1 at epoch 6, then 2 epochs of cooldown (7, 8), then
  // 2.6, 2.6 bad again: x0.1 at epoch 10, the first group held at its min_lr 0.02.
  // PyTorch 1.13: ReduceLROnPlateau(mode='max', threshold=0.1, threshold_mode='abs',
  // patience=1, factor=0.1, cooldown=2, min_lr=[0.02, 0.001]).
  expect_sequence(seq,
                  {{1.0, 0.5},
                   {1.0, 0.5},
                   {1.0, 0.5},
                   {1.0, 0.5},
                   {1.0, 0.5},
                   {0.1, 0.05},
                   {0.1, 0.05},
                   {0.1, 0.05},
                   {0.1, 0.05},
                   {0.02, 0.005000000000000001}},
                  0, "ReduceLROnPlateau max/abs vs PyTorch");
}

TEST(LRScheduler, ReduceLROnPlateauSkipsReductionsBelowEps) {
  auto f = make_sgd({1e-9});
  ReduceLROnPlateau sched(*f.opt, {.patience = 0});
  sched.step(1.0);
  sched.step(1.0);  // bad epoch: 1e-9 -> 1e-10 is a change below eps 1e-8, skipped
  EXPECT_EQ(lrs_of(*f.opt)[0], 1e-9);
}

TEST(LRScheduler, ReduceLROnPlateauOptionErrors) {
  auto f = make_sgd({0.1, 0.2});
  EXPECT_THROW_MSG(ReduceLROnPlateau(*f.opt, {.mode = "lowest"}), ValueError,
                   "mode must be 'min' or 'max'");
  EXPECT_THROW_MSG(ReduceLROnPlateau(*f.opt, {.factor = 1.0}), ValueError, "factor should be < 1");
  EXPECT_THROW_MSG(ReduceLROnPlateau(*f.opt, {.threshold_mode = "relative"}), ValueError,
                   "threshold_mode");
  EXPECT_THROW_MSG(ReduceLROnPlateau(*f.opt, {.min_lr = {0, 0, 0}}), ValueError,
                   "expected 2 min_lrs, got 3");
}

// ---------------- state dicts ----------------

// Runs `make` twice: one scheduler stepped 3 + 4 times, one loaded (with its optimizer) from
// the first's state after 3 steps and stepped 4 times; the lrs must agree exactly.
template <class Make>
void check_round_trip(Make make, const std::string& what) {
  auto a = make_sgd({0.1, 0.05}, 0.9);
  auto sa = make(*a.opt);
  for (int i = 0; i < 3; ++i) sa->step();
  StateDict opt_sd = a.opt->state_dict();
  StateDict sched_sd = sa->state_dict();
  EXPECT_EQ(sched_sd.size(), 0u) << what << ": schedulers keep everything in metadata";

  auto b = make_sgd({0.7, 0.7}, 0.9);
  auto sb = make(*b.opt);
  b.opt->load_state_dict(opt_sd);
  sb->load_state_dict(sched_sd);
  EXPECT_EQ(sb->get_last_lr(), sa->get_last_lr()) << what;
  EXPECT_EQ(sb->last_epoch(), 3) << what;
  for (int i = 0; i < 4; ++i) {
    sa->step();
    sb->step();
    EXPECT_EQ(sb->get_last_lr(), sa->get_last_lr()) << what << " step " << i;
    EXPECT_EQ(lrs_of(*b.opt), lrs_of(*a.opt)) << what << " step " << i;
  }
}

TEST(LRScheduler, StateDictRoundTrips) {
  check_round_trip([](Optimizer& o) { return std::make_unique<StepLR>(o, 2, 0.5); }, "StepLR");
  check_round_trip(
      [](Optimizer& o) {
        return std::make_unique<MultiStepLR>(o, std::vector<int64_t>{1, 4});
      },
      "MultiStepLR");
  check_round_trip([](Optimizer& o) { return std::make_unique<ExponentialLR>(o, 0.7); },
                   "ExponentialLR");
  check_round_trip([](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 5, 1e-3); },
                   "CosineAnnealingLR");
  check_round_trip([](Optimizer& o) { return std::make_unique<LinearLR>(o, 0.1, 1.0, 5); },
                   "LinearLR");
  check_round_trip(
      [](Optimizer& o) {
        return std::make_unique<OneCycleLR>(o, 1.0, 20, OneCycleLROptions{.three_phase = true});
      },
      "OneCycleLR");
}

TEST(LRScheduler, StateDictMetadataAndSettings) {
  auto f = make_sgd({0.1});
  StepLR sched(*f.opt, 3, 0.1);
  sched.step();
  StateDict sd = sched.state_dict();
  EXPECT_EQ(sd.metadata().at("scheduler"), "StepLR");
  EXPECT_EQ(sd.metadata().at("last_epoch"), "1");
  EXPECT_EQ(sd.metadata().at("_step_count"), "2");
  EXPECT_EQ(sd.metadata().at("gamma"), "0.10000000000000001");  // %.17g
  EXPECT_EQ(sd.metadata().at("base_lrs"), "0.10000000000000001");
  // Settings are restored too, as PyTorch's load_state_dict does.
  auto g = make_sgd({0.1});
  StepLR other(*g.opt, 1, 0.5);
  other.load_state_dict(sd);
  other.step();
  other.step();  // epoch 3: x0.1 (the loaded gamma and step size)
  EXPECT_DOUBLE_EQ(other.get_last_lr()[0], 0.1 * 0.1);
  // The wrong kind is refused.
  ExponentialLR exp(*g.opt, 0.5);
  EXPECT_THROW_MSG(exp.load_state_dict(sd), ValueError, "saved by StepLR", "ExponentialLR");
}

TEST(LRScheduler, ReduceLROnPlateauStateDictRoundTrip) {
  auto a = make_sgd({1.0});
  ReduceLROnPlateau sa(*a.opt, {.factor = 0.5, .patience = 1, .cooldown = 1});
  for (double m : {5.0, 4.0, 4.5, 4.5}) sa.step(m);
  StateDict sd = sa.state_dict();
  EXPECT_EQ(sd.metadata().at("best"), "4");
  auto b = make_sgd({1.0});
  ReduceLROnPlateau sb(*b.opt);
  b.opt->load_state_dict(a.opt->state_dict());
  sb.load_state_dict(sd);
  EXPECT_EQ(sb.best(), 4.0);
  EXPECT_EQ(sb.in_cooldown(), sa.in_cooldown());
  for (double m : {4.4, 4.3, 4.2, 3.0, 3.5, 3.5, 3.5}) {
    sa.step(m);
    sb.step(m);
    EXPECT_EQ(lrs_of(*b.opt), lrs_of(*a.opt));
    EXPECT_EQ(sb.num_bad_epochs(), sa.num_bad_epochs());
  }
  // A lowest-loss "best" of +inf (nothing seen yet) survives the text round trip.
  auto c = make_sgd({1.0});
  ReduceLROnPlateau fresh(*c.opt);
  ReduceLROnPlateau copy(*c.opt);
  copy.load_state_dict(fresh.state_dict());
  EXPECT_TRUE(std::isinf(copy.best()) && copy.best() > 0);
}

}  // namespace
}  // namespace kiln::optim
