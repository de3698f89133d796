// Acceptance: LeNet-5 trained on the first 8,000 images of the MNIST test set reaches at least
// 97.5 % on the last 2,000, on the CPU, in CI time. Data: $KILN_MNIST_DIR, else
// ../shared/data/mnist-t10k beside the checkout; skipped with a message when absent.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "kiln/kiln.h"
#include "kiln/models/lenet.h"

namespace {

using namespace kiln;
namespace fs = std::filesystem;

std::string mnist_dir() {
  if (const char* env = std::getenv("KILN_MNIST_DIR")) return env;
  return (fs::path(KILN_SOURCE_DIR) / ".." / "shared" / "data" / "mnist-t10k").string();
}

std::shared_ptr<data::TensorDataset> slice(const data::TensorDataset& ds, int64_t begin,
                                           int64_t end) {
  // Standardised with MNIST's usual mean and deviation.
  return std::make_shared<data::TensorDataset>(
      (narrow(ds.inputs(), 0, begin, end - begin) - 0.1307) / 0.3081,
      narrow(ds.targets(), 0, begin, end - begin));
}

double accuracy(nn::Module& model, const data::TensorDataset& ds) {
  NoGradGuard no_grad;
  model.eval();
  Tensor logits = model(ds.inputs());
  model.train();
  return sum(eq(argmax(logits, 1), ds.targets())).item() / double(ds.size());
}

TEST(LeNetMnist, ReachesTheTargetAccuracy) {
  const std::string dir = mnist_dir();
  if (!fs::exists(fs::path(dir) / "t10k-images-idx3-ubyte.gz") &&
      !fs::exists(fs::path(dir) / "t10k-images-idx3-ubyte"))
    GTEST_SKIP() << "the MNIST test set is not at " << dir
                 << " (set KILN_MNIST_DIR): LeNet-5 acceptance run skipped";
  const auto t0 = std::chrono::steady_clock::now();
  data::TensorDataset all = data::load_mnist(dir, /*train=*/false);
  ASSERT_EQ(all.size(), 10000);
  auto train = slice(all, 0, 8000);
  auto test = slice(all, 8000, 10000);

  // `kiln train lenet`'s defaults (src/cli/train.cpp, setup.cpp), in its order: seed 0, SGD
  // with momentum 0.9, lr 0.05 on a per-epoch cosine schedule, batch 32, 5 epochs. Measured:
  // 98.20 % with one thread, 98.10 % to 98.45 % with other OpenMP / OpenBLAS thread counts
  // (the convolution's weight gradient sums per-thread partial results); the same recipe with
  // seeds 1 and 2: 98.25 %, 98.60 %. About 10 s of one core. scripts/test.sh runs ctest with
  // OMP_WAIT_POLICY=passive, without which two tests spinning on 2 cores slow this one tenfold.
  const int64_t epochs = 5, batch = 32;
  manual_seed(0);
  auto model = std::make_shared<models::LeNet5>();
  data::DataLoader loader(train, batch, /*shuffle=*/true, /*seed=*/0);
  optim::SGD opt(model->parameters(), {.lr = 0.05, .momentum = 0.9});
  optim::CosineAnnealingLR sched(opt, epochs);
  for (int64_t e = 0; e < epochs; ++e) {
    loader.set_epoch(e);
    for (const data::Example& b : loader) {
      Tensor loss = nn::functional::cross_entropy((*model)(b.input), b.target);
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    sched.step();
    std::printf("epoch %lld: test accuracy %.2f%%\n", static_cast<long long>(e + 1),
                100 * accuracy(*model, *test));
  }
  const double acc = accuracy(*model, *test);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("LeNet-5, MNIST t10k (8000 train / 2000 test): %.2f%% in %.1f s\n", 100 * acc,
              seconds);
  EXPECT_GE(acc, 0.975);
}

}  // namespace
