// kiln bench: the time of one training step (forward, cross-entropy, backward, SGD with
// momentum) of an MLP 784-512-256-10 at batch 128. bench/run_cpu.sh puts PyTorch beside it.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "kiln/kiln.h"

namespace kiln::cli {

int run_bench(int argc, char** argv) {
  Args args(argc, argv, 2, {"steps", "batch-size", "device"}, {"quiet"});
  const int64_t steps = args.get_int("steps", 50), batch = args.get_int("batch-size", 128);
  KILN_CHECK_VALUE(steps > 0 && batch > 0, "bench: --steps and --batch-size must be positive");
  const Device device(args.get("device", default_device()));
  manual_seed(0);
  auto model = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Linear>(784, 512), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(512, 256), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(256, 10));
  model->to(device);
  optim::SGD opt(model->parameters(), {.lr = 0.01, .momentum = 0.9});
  Tensor x = randn({batch, 784}).to(device);
  Tensor y = randint(0, 10, {batch}).to(device);
  auto step = [&] {
    Tensor loss = nn::functional::cross_entropy((*model)(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    return loss.item();  // waits for the device
  };
  for (int i = 0; i < 5; ++i) step();
  std::vector<double> ms;
  for (int64_t i = 0; i < steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  if (args.has("quiet")) {
    std::printf("%.4f\n", median);
  } else {
    std::printf(
        "MLP 784-512-256-10 training step (SGD momentum), batch %lld on %s: median %.3f "
        "ms over %lld steps, %.0f samples/s\n",
        static_cast<long long>(batch), device.str().c_str(), median, static_cast<long long>(steps),
        double(batch) / median * 1000);
  }
  return 0;
}

}  // namespace kiln::cli
