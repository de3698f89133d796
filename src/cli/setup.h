#pragma once
// What `kiln train` / `kiln eval` build from their options: the model, the datasets, the
// optimizer and the learning-rate schedule.
#include <memory>
#include <string>

#include "kiln/data/data.h"
#include "kiln/nn/nn.h"
#include "kiln/optim/optim.h"

namespace kiln::cli {

// Models by name: "mlp" (784-256-128-10, ReLU, on 1x28x28), "lenet" (LeNet-5, 1x28x28),
// "resnet18", "resnet34", "resnet50" (CIFAR stem, 10 classes, 3x32x32).
std::shared_ptr<nn::Module> make_model(const std::string& name);
// The model a command line names: "resnet" with --depth N (depth 0: not given; default 18)
// is "resnetN"; a depth with another model is an error.
std::string model_name(const std::string& name, int64_t depth);
// The data `model` uses when --data is not given: for lenet, ../shared/data/mnist-t10k beside
// the current directory or beside the checkout holding the program, when present; otherwise ""
// (the built-in synthetic data).
std::string default_data_dir(const std::string& model);

struct Datasets {
  std::shared_ptr<const data::Dataset> train, test;
  std::string description;  // "MNIST (mnist-t10k: first 8000 / last 2000)"
};
// The embedded synthetic digits when `dir` is empty; otherwise MNIST idx files from `dir`:
// train-* and t10k-* when both exist, or the t10k set alone split into its first 8,000 images
// for training and its last 2,000 for testing.
Datasets make_datasets(const std::string& dir, uint64_t seed);
// The datasets of `model`: the above for mlp and lenet; for the resnets CIFAR-10 binary batches
// from `dir` (data_batch_1..5.bin and test_batch.bin, standardised per channel), or without
// `dir` synthetic 3x32x32 images: the synthetic digits padded to 32x32 in random foreground and
// background colours (2,000 train / 500 test; image i depends only on (seed, i)).
Datasets make_datasets(const std::string& model, const std::string& dir, uint64_t seed);

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
