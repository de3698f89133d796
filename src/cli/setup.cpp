#include "cli/setup.h"

#include <filesystem>
#include <random>

#include "data/rng.h"
#include "kiln/error.h"
#include "kiln/kiln.h"
#include "kiln/models/models.h"

namespace kiln::cli {

std::shared_ptr<nn::Module> make_model(const std::string& name) {
  if (name == "mlp") {
    return std::make_shared<nn::Sequential>(
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 256),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(256, 128),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(128, 10));
  }
  if (name == "lenet") return std::make_shared<models::LeNet5>();
  for (int64_t depth : {18, 34, 50}) {
    if (name == "resnet" + std::to_string(depth))
      return models::resnet(depth, {.num_classes = 10, .stem = models::ResNetStem::Cifar});
  }
  throw ValueError("unknown model '" + name +
                   "' (available: mlp, lenet, resnet18, resnet34, resnet50; "
                   "resnet --depth 18|34|50)");
}

std::string model_name(const std::string& name, int64_t depth) {
  if (name == "resnet") {
    const int64_t d = depth == 0 ? 18 : depth;
    KILN_CHECK_VALUE(d == 18 || d == 34 || d == 50, "--depth: expected 18, 34 or 50, got ", d);
    return "resnet" + std::to_string(d);
  }
  KILN_CHECK_VALUE(depth == 0 || name == "resnet" + std::to_string(depth), "--depth ", depth,
                   " does not apply to model '", name, "' (only to resnet)");
  return name;
}

std::string default_data_dir(const std::string& model) {
  if (model != "lenet") return "";
  namespace fs = std::filesystem;
  const fs::path rel = fs::path("..") / "shared" / "data" / "mnist-t10k";
  std::vector<fs::path> candidates = {fs::current_path() / rel};
  // build*/bin/kiln -> the checkout -> its sibling shared/.
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path().parent_path() / rel);
  for (const auto& c : candidates) {
    if (fs::exists(c / "t10k-images-idx3-ubyte.gz") || fs::exists(c / "t10k-images-idx3-ubyte"))
      return fs::weakly_canonical(c).string();
  }
  return "";
}

namespace {
bool has_idx(const std::string& dir, const std::string& stem) {
  namespace fs = std::filesystem;
  return fs::exists(fs::path(dir) / stem) || fs::exists(fs::path(dir) / (stem + ".gz"));
}

// MNIST pixels standardised with the training set's mean and deviation (the usual 0.1307 and
// 0.3081): centred inputs train faster than raw [0, 1] intensities.
std::shared_ptr<data::TensorDataset> standardised(const data::TensorDataset& ds) {
  return std::make_shared<data::TensorDataset>((ds.inputs() - 0.1307) / 0.3081, ds.targets());
}

std::shared_ptr<const data::Dataset> range(std::shared_ptr<const data::Dataset> ds, int64_t begin,
                                           int64_t end) {
  std::vector<int64_t> idx;
  for (int64_t i = begin; i < end; ++i) idx.push_back(i);
  return std::make_shared<data::Subset>(std::move(ds), std::move(idx));
}
}  // namespace

Datasets make_datasets(const std::string& dir, uint64_t seed) {
  Datasets d;
  if (dir.empty()) {
    // Separate seeds: the test digits are drawn independently of the training digits.
    d.train = std::make_shared<data::TensorDataset>(data::synthetic_digits(8000, seed * 2 + 1));
    d.test = std::make_shared<data::TensorDataset>(data::synthetic_digits(2000, seed * 2 + 2));
    d.description = "synthetic digits (embedded: 8000 train / 2000 test)";
    return d;
  }
  KILN_CHECK_VALUE(std::filesystem::is_directory(dir), "--data: '", dir, "' is not a directory");
  if (has_idx(dir, "train-images-idx3-ubyte")) {
    d.train = standardised(data::load_mnist(dir, true));
    d.test = standardised(data::load_mnist(dir, false));
    d.description = "MNIST idx from " + dir;
    return d;
  }
  KILN_CHECK_VALUE(has_idx(dir, "t10k-images-idx3-ubyte"), "--data: no MNIST idx files in '", dir,
                   "' (expected train-images-idx3-ubyte[.gz] or t10k-images-idx3-ubyte[.gz])");
  auto all = standardised(data::load_mnist(dir, false));
  KILN_CHECK_VALUE(all->size() == 10000, "--data: expected the 10,000-image MNIST test set in '",
                   dir, "', found ", all->size(), " images");
  d.train = range(all, 0, 8000);
  d.test = range(all, 8000, 10000);
  d.description = "MNIST test set from " + dir + " (first 8000 train / last 2000 test)";
  return d;
}

namespace {

// Digits in colour: the synthetic digits padded to 32x32, each drawn in its own foreground
// colour (channels in [0.5, 1)) over its own background (channels in [0, 0.5)), so a network
// must read the shape, not the colour. Standardised to mean 0.5, deviation 0.25.
std::shared_ptr<data::TensorDataset> colour_digits(int64_t n, uint64_t seed) {
  data::TensorDataset digits = data::synthetic_digits(n, seed);
  std::vector<double> bg(size_t(n) * 3), fg(size_t(n) * 3);
  for (int64_t i = 0; i < n; ++i) {
    std::mt19937_64 gen(data::detail::derive_seed(seed, uint64_t(i), 0xC010));
    for (int64_t c = 0; c < 3; ++c) {
      bg[size_t(i * 3 + c)] = data::detail::uniform(gen, 0.0, 0.5);
      fg[size_t(i * 3 + c)] = data::detail::uniform(gen, 0.5, 1.0);
    }
  }
  Tensor b = tensor(bg, {n, 3, 1, 1}), f = tensor(fg, {n, 3, 1, 1});
  Tensor glyph = nn::functional::pad(digits.inputs(), {2, 2, 2, 2});
  Tensor images = (b + (f - b) * glyph - 0.5) / 0.25;
  return std::make_shared<data::TensorDataset>(images, digits.targets());
}

// CIFAR-10 standardised with its training set's per-channel mean and deviation.
std::shared_ptr<data::TensorDataset> standardised_cifar(const data::TensorDataset& ds) {
  Tensor mean = tensor({0.4914, 0.4822, 0.4465}, {1, 3, 1, 1});
  Tensor std = tensor({0.2470, 0.2435, 0.2616}, {1, 3, 1, 1});
  return std::make_shared<data::TensorDataset>((ds.inputs() - mean) / std, ds.targets());
}

}  // namespace

Datasets make_datasets(const std::string& model, const std::string& dir, uint64_t seed) {
  if (model.rfind("resnet", 0) != 0) return make_datasets(dir, seed);
  Datasets d;
  if (dir.empty()) {
    d.train = colour_digits(2000, seed * 2 + 1);
    d.test = colour_digits(500, seed * 2 + 2);
    d.description = "synthetic 3x32x32 colour digits (2000 train / 500 test)";
    return d;
  }
  KILN_CHECK_VALUE(std::filesystem::is_directory(dir), "--data: '", dir, "' is not a directory");
  d.train = standardised_cifar(data::load_cifar10(dir, true));
  d.test = standardised_cifar(data::load_cifar10(dir, false));
  d.description = "CIFAR-10 from " + dir;
  return d;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name,
                                                 std::vector<Tensor> params, double lr) {
  using namespace optim;
  if (name == "sgd") return std::make_unique<SGD>(std::move(params), SGDOptions{.lr = lr});
  if (name == "momentum")
    return std::make_unique<SGD>(std::move(params), SGDOptions{.lr = lr, .momentum = 0.9});
  if (name == "nesterov")
    return std::make_unique<SGD>(std::move(params),
                                 SGDOptions{.lr = lr, .momentum = 0.9, .nesterov = true});
  if (name == "adagrad")
    return std::make_unique<Adagrad>(std::move(params), AdagradOptions{.lr = lr});
  if (name == "rmsprop")
    return std::make_unique<RMSprop>(std::move(params), RMSpropOptions{.lr = lr});
  if (name == "adam") return std::make_unique<Adam>(std::move(params), AdamOptions{.lr = lr});
  if (name == "adamw") return std::make_unique<AdamW>(std::move(params), AdamWOptions{.lr = lr});
  throw ValueError("unknown optimizer '" + name +
                   "' (available: sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw)");
}

bool scheduler_steps_per_batch(const std::string& name) { return name == "onecycle"; }

std::unique_ptr<optim::LRScheduler> make_scheduler(const std::string& name, optim::Optimizer& opt,
                                                   int64_t epochs, int64_t steps_per_epoch,
                                                   double lr) {
  using namespace optim;
  if (name == "none") return nullptr;
  if (name == "step") return std::make_unique<StepLR>(opt, std::max<int64_t>(1, epochs / 3), 0.1);
  if (name == "exponential") return std::make_unique<ExponentialLR>(opt, 0.9);
  if (name == "cosine") return std::make_unique<CosineAnnealingLR>(opt, epochs);
  if (name == "linear") return std::make_unique<LinearLR>(opt, 0.1, 1.0, 1);
  if (name == "onecycle") return std::make_unique<OneCycleLR>(opt, lr, epochs * steps_per_epoch);
  throw ValueError("unknown scheduler '" + name +
                   "' (available: none, step, exponential, cosine, linear, onecycle)");
}

Evaluation evaluate(nn::Module& model, std::shared_ptr<const data::Dataset> ds, Device device) {
  NoGradGuard no_grad;
  model.eval();
  data::DataLoader loader(std::move(ds), 1000, false, 0, false, false);
  double loss_sum = 0;
  int64_t correct = 0, n = 0;
  for (const data::Example& b : loader) {
    Tensor logits = model(b.input.to(device));
    Tensor target = b.target.to(device);
    loss_sum += nn::functional::cross_entropy(logits, target, {}, -100, "sum").item();
    correct += int64_t(sum(eq(argmax(logits, 1), target)).item());
    n += b.input.size(0);
  }
  model.train();
  return {loss_sum / double(n), double(correct) / double(n)};
}

}  // namespace kiln::cli
