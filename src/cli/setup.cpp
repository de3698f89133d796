#include "cli/setup.h"

#include <filesystem>

#include "kiln/error.h"
#include "kiln/kiln.h"

namespace kiln::cli {

std::shared_ptr<nn::Module> make_model(const std::string& name) {
  if (name == "mlp") {
    return std::make_shared<nn::Sequential>(
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 256),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(256, 128),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(128, 10));
  }
  throw ValueError("unknown model '" + name + "' (available: mlp)");
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
