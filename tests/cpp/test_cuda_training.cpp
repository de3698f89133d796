// Whole training steps on CUDA against the CPU reference. The model is the MLP of `kiln train
// mlp` (src/cli/setup.cpp: Flatten, Linear 784-256, ReLU, Linear 256-128, ReLU, Linear 128-10),
// trained with cross-entropy for 20 steps from the same initial weights (drawn once on the CPU)
// on the same batches of synthetic digits, with each optimizer family's fused CUDA step.
//
// Tolerances, float32: every loss within 1e-5 (relative, for losses above 1) and every parameter
// tensor within 1e-4 relative (L2 norm of the difference over the norm of the reference) after
// 20 steps. The CPU test below holds float32 on the CPU to the same bounds against float64, so
// the bounds are known to be met by honest float32 arithmetic; CUDA float32 against CPU float32
// differs only in summation order and fused multiply-adds, the same size of rounding.
//
// Every CUDA test skips with a visible message when there is no GPU.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>

#include "test_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSteps = 20;
constexpr int64_t kBatch = 32;
constexpr double kLossTol = 1e-5;
constexpr double kParamTol = 1e-4;

std::shared_ptr<nn::Sequential> make_mlp(bool dropout) {
  using namespace nn;
  if (!dropout) {
    return std::make_shared<Sequential>(
        std::make_shared<Flatten>(), std::make_shared<Linear>(784, 256), std::make_shared<ReLU>(),
        std::make_shared<Linear>(256, 128), std::make_shared<ReLU>(),
        std::make_shared<Linear>(128, 10));
  }
  return std::make_shared<Sequential>(
      std::make_shared<Flatten>(), std::make_shared<Linear>(784, 256), std::make_shared<ReLU>(),
      std::make_shared<Dropout>(0.2), std::make_shared<Linear>(256, 128), std::make_shared<ReLU>(),
      std::make_shared<Dropout>(0.2), std::make_shared<Linear>(128, 10));
}

// The initial weights, drawn on the CPU (a snapshot, not views of a model's tensors).
StateDict initial_state(bool dropout) {
  manual_seed(0);
  auto model = make_mlp(dropout);
  StateDict s;
  for (const auto& [name, t] : model->state_dict()) s.insert(name, t.clone());
  return s;
}

// kSteps batches of kBatch digits [N, 1, 28, 28] in [0, 1], generated once.
const data::TensorDataset& digits() {
  static const data::TensorDataset ds = data::synthetic_digits(kSteps * kBatch, 7);
  return ds;
}
Tensor batch_inputs(int64_t step) { return digits().inputs().narrow(0, step * kBatch, kBatch); }
Tensor batch_targets(int64_t step) { return digits().targets().narrow(0, step * kBatch, kBatch); }

enum class Opt { Momentum, Nesterov, Adam, AdamW };

struct Config {
  std::string name;
  Opt opt;
  bool dropout = false;
  bool clip = false;  // clip_grad_norm_ before each step (the fused norm over all gradients)
};

std::unique_ptr<optim::Optimizer> make_optimizer(Opt opt, std::vector<Tensor> params) {
  using namespace optim;
  switch (opt) {
    case Opt::Momentum:
      return std::make_unique<SGD>(std::move(params), SGDOptions{.lr = 0.05, .momentum = 0.9});
    case Opt::Nesterov:
      return std::make_unique<SGD>(
          std::move(params),
          SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
    case Opt::Adam:
      return std::make_unique<Adam>(std::move(params), AdamOptions{.lr = 1e-3});
    case Opt::AdamW:
      return std::make_unique<AdamW>(
          std::move(params), AdamWOptions{.lr = 1e-3, .weight_decay = 1e-2, .amsgrad = true});
  }
  throw ValueError("test_cuda_training: unknown optimizer");
}

struct Trained {
  std::vector<double> losses;  // one per step
  StateDict params;            // after the last step, float64 on the CPU
};

// kSteps training steps from initial_state() on `device` in `dtype`.
Trained train(const Config& c, Device device, DType dtype) {
  auto model = make_mlp(c.dropout);
  model->load_state_dict(initial_state(c.dropout));
  model->to(device, dtype);
  model->train();
  auto opt = make_optimizer(c.opt, model->parameters());
  // Dropout masks are Philox draws from (seed, offset, element): the same seed and the same
  // sequence of random ops give the same masks on both devices.
  manual_seed(1234);
  Trained r;
  for (int64_t s = 0; s < kSteps; ++s) {
    Tensor x = batch_inputs(s).to(device, dtype);
    Tensor y = batch_targets(s).to(device);
    Tensor loss = nn::functional::cross_entropy((*model)(x), y);
    opt->zero_grad();
    loss.backward();
    if (c.clip) optim::clip_grad_norm_(model->parameters(), 0.5);
    opt->step();
    r.losses.push_back(loss.item());
  }
  for (const auto& [name, t] : model->state_dict()) {
    EXPECT_EQ(t.device(), device) << name << " left the device it was trained on";
    r.params.insert(name, t.cpu().to(DType::Float64));
  }
  return r;
}

double l2(const Tensor& t) { return std::sqrt(sum(t * t).item()); }

// ||got - want|| / ||want|| per tensor. A per-tensor norm rather than a per-element bound: a
// ReLU unit whose pre-activation lies within rounding of zero can switch on one device only and
// move one gradient row slightly, which a norm absorbs, while a wrong kernel moves whole tensors.
void expect_same_training(const Trained& got, const Trained& want, double loss_tol,
                          double param_tol, const std::string& what) {
  ASSERT_EQ(got.losses.size(), want.losses.size()) << what;
  for (size_t s = 0; s < want.losses.size(); ++s) {
    EXPECT_TRUE(std::isfinite(want.losses[s])) << what << " step " << s;
    EXPECT_NEAR(got.losses[s], want.losses[s], loss_tol * std::max(1.0, std::abs(want.losses[s])))
        << what << ": loss of step " << s;
  }
  // Training happened: the loss fell (a comparison of two runs that did nothing proves nothing).
  EXPECT_LT(want.losses.back(), want.losses.front()) << what;
  ASSERT_EQ(got.params.keys(), want.params.keys()) << what;
  for (const auto& [name, w] : want.params) {
    const Tensor& g = got.params.at(name);
    ASSERT_EQ(g.shape(), w.shape()) << what << " " << name;
    const double rel = l2(g - w) / std::max(l2(w), 1e-30);
    EXPECT_LE(rel, param_tol) << what << ": parameter " << name << " after " << kSteps
                              << " steps, relative L2 difference " << rel;
    // A gross error in a few elements of a large tensor (an off-by-one at a tensor boundary of
    // a fused step) would be diluted in the norm; no single element may be far off either.
    const double worst = max(abs(g - w)).item(), scale = max(abs(w)).item();
    EXPECT_LE(worst, 1e-2 * scale) << what << ": parameter " << name << " worst element off by "
                                   << worst << " (largest magnitude " << scale << ")";
  }
}

const std::vector<Config>& configs() {
  static const std::vector<Config> c = {
      {"sgd_momentum", Opt::Momentum},
      {"sgd_nesterov_weight_decay", Opt::Nesterov},
      {"adam", Opt::Adam},
      {"adamw_amsgrad", Opt::AdamW},
      {"sgd_momentum_clip_grad_norm", Opt::Momentum, false, true},
      {"adam_dropout", Opt::Adam, true},
      {"sgd_momentum_dropout", Opt::Momentum, true},
  };
  return c;
}

std::string config_name(const ::testing::TestParamInfo<size_t>& info) {
  return configs()[info.param].name;
}

class Training : public ::testing::TestWithParam<size_t> {};

TEST_P(Training, CudaMatchesCpuFloat32) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: CPU-vs-CUDA training comparison skipped";
  const Config& c = configs()[GetParam()];
  Trained want = train(c, Device::cpu(), DType::Float32);
  Trained got = train(c, Device::cuda(0), DType::Float32);
  expect_same_training(got, want, kLossTol, kParamTol, "cuda " + c.name);
}

INSTANTIATE_TEST_SUITE_P(Mlp, Training, ::testing::Range<size_t>(0, configs().size()), config_name);

// The bounds above, met on the CPU by float32 against float64 from the same (float32) start:
// the harness and its tolerances are exercised without a GPU.
TEST(TrainingHarness, CpuFloat32TracksFloat64) {
  for (const Config& c : {configs()[0], configs()[5]}) {
    Trained want = train(c, Device::cpu(), DType::Float64);
    Trained got = train(c, Device::cpu(), DType::Float32);
    expect_same_training(got, want, kLossTol, kParamTol, "cpu float32 " + c.name);
  }
}

// The dropout runs compare something: the same seed gives the same loss again, another seed
// gives different masks and so a different loss.
TEST(TrainingHarness, DropoutMasksFollowTheSeed) {
  auto model = make_mlp(true);
  model->load_state_dict(initial_state(true));
  model->train();
  auto first_loss = [&](uint64_t seed) {
    manual_seed(seed);
    return nn::functional::cross_entropy((*model)(batch_inputs(0)), batch_targets(0)).item();
  };
  const double a = first_loss(1234), b = first_loss(1234), other = first_loss(4321);
  EXPECT_EQ(a, b);
  EXPECT_GT(std::abs(other - a), 1e-4);
}

// bfloat16 forward of the initial model: the CUDA logits and loss against the CPU's, both in
// bfloat16 (float32 accumulation on both; results rounded to bfloat16 after every layer, so a
// last-bit difference in one layer can grow: 2e-2 of the logits' scale).
TEST(CudaTraining, BFloat16ForwardMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: bfloat16 forward comparison skipped";
  auto cpu_model = make_mlp(false), cuda_model = make_mlp(false);
  cpu_model->load_state_dict(initial_state(false));
  cuda_model->load_state_dict(initial_state(false));
  cpu_model->to(DType::BFloat16);
  cuda_model->to(Device::cuda(0), DType::BFloat16);
  NoGradGuard no_grad;
  for (int64_t s = 0; s < 3; ++s) {
    Tensor x = batch_inputs(s).to(DType::BFloat16);
    Tensor want = (*cpu_model)(x);
    Tensor got = (*cuda_model)(x.to(Device::cuda(0)));
    ASSERT_EQ(got.dtype(), DType::BFloat16);
    ASSERT_TRUE(got.device().is_cuda());
    const double scale = max(abs(want.to(DType::Float64))).item();
    expect_close(got.cpu().to(DType::Float64), want.to(DType::Float64), 2e-2 * scale, 2e-2,
                 "bf16 logits, batch " + std::to_string(s));
    const double lw = nn::functional::cross_entropy(want, batch_targets(s)).item();
    const double lg =
        nn::functional::cross_entropy(got, batch_targets(s).to(Device::cuda(0))).item();
    EXPECT_NEAR(lg, lw, 2e-2 * std::abs(lw)) << "bf16 loss, batch " << s;
  }
}

// A model trained on CUDA, saved through safetensors, loads on the CPU (and back on CUDA) with
// bit-identical values, and the CPU copy computes what the CUDA model computes.
TEST(CudaTraining, StateDictRoundTripThroughSafetensors) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: CUDA state_dict round trip skipped";
  const Device cuda = Device::cuda(0);
  auto model = make_mlp(false);
  model->load_state_dict(initial_state(false));
  model->to(cuda);
  optim::Adam opt(model->parameters(), {.lr = 1e-3});
  for (int64_t s = 0; s < 3; ++s) {  // values that differ from the initial ones
    Tensor loss = nn::functional::cross_entropy((*model)(batch_inputs(s).to(cuda)),
                                                batch_targets(s).to(cuda));
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  const fs::path dir =
      fs::temp_directory_path() / ("kiln_test_cuda_training_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "mlp.safetensors").string();
  save_safetensors(path, model->state_dict());
  StateDict loaded = load_safetensors(path);
  fs::remove_all(dir);

  const StateDict saved = model->state_dict();
  ASSERT_EQ(loaded.keys(), saved.keys());
  for (const auto& [name, t] : saved) {
    const Tensor& l = loaded.at(name);
    EXPECT_TRUE(t.device().is_cuda()) << name;
    EXPECT_TRUE(l.device().is_cpu()) << name;
    EXPECT_EQ(l.dtype(), DType::Float32) << name;
    EXPECT_TRUE(equal(l, t.cpu())) << name << " changed in the round trip";
  }
  EXPECT_FALSE(equal(loaded.at("1.weight"), initial_state(false).at("1.weight")))
      << "the saved model should be the trained one";

  auto cpu_model = make_mlp(false);
  cpu_model->load_state_dict(loaded);
  auto cuda_again = make_mlp(false);
  cuda_again->to(cuda);
  cuda_again->load_state_dict(loaded);  // copies host values into the CUDA parameters
  for (const auto& [name, t] : cuda_again->state_dict()) {
    EXPECT_TRUE(t.device().is_cuda()) << name;
    EXPECT_TRUE(equal(t.cpu(), loaded.at(name))) << name;
  }
  NoGradGuard no_grad;
  Tensor x = batch_inputs(5);
  Tensor want = (*cpu_model)(x);
  expect_close((*model)(x.to(cuda)).cpu(), want, 1e-5, 1e-5, "reloaded model's logits");
  EXPECT_TRUE(equal((*cuda_again)(x.to(cuda)).cpu(), (*model)(x.to(cuda)).cpu()));
}

}  // namespace
}  // namespace kiln::testing
