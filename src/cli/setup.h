#pragma once
// What `kiln train` / `kiln eval` build from their options: the model, the datasets, the
// optimizer and the learning-rate schedule.
#include <memory>
#include <string>

#include "kiln/data/data.h"
#include "kiln/nn/nn.h"
#include "kiln/optim/optim.h"

namespace kiln::cli {

// Models by name: "mlp" (784-256-128-10, ReLU).
std::shared_ptr<nn::Module> make_model(const std::string& name);

struct Datasets {
  std::shared_ptr<const data::Dataset> train, test;
  std::string description;  // "MNIST (mnist-t10k: first 8000 / last 2000)"
};
// The embedded synthetic digits when `dir` is empty; otherwise MNIST idx files from `dir`:
// train-* and t10k-* when both exist, or the t10k set alone split into its first 8,000 images
// for training and its last 2,000 for testing.
Datasets make_datasets(const std::string& dir, uint64_t seed);

// sgd, momentum (0.9), nesterov, adagrad, rmsprop, adam, adamw.
std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name,
                                                 std::vector<Tensor> params, double lr);

// none, step (x0.1 every third of the run), exponential (0.9), cosine, linear (warm-up over
// the first epoch), onecycle (stepped per batch). Returns nullptr for none.
std::unique_ptr<optim::LRScheduler> make_scheduler(const std::string& name,
                                                   optim::Optimizer& optimizer, int64_t epochs,
                                                   int64_t steps_per_epoch, double lr);
// Whether the schedule advances per batch (onecycle) rather than per epoch.
bool scheduler_steps_per_batch(const std::string& name);

struct Evaluation {
  double loss = 0, accuracy = 0;
};
// Mean cross-entropy and accuracy of `model` (in eval mode, without gradients) over `ds`.
Evaluation evaluate(nn::Module& model, std::shared_ptr<const data::Dataset> ds, Device device);

}  // namespace kiln::cli
