// Benchmark: one training step (forward, cross-entropy, backward, SGD update) of an MLP
// 784-512-256-10 at batch 128 on the CPU. Prints the median step time in milliseconds;
// bench/run_cpu.sh runs it next to the same step in PyTorch and reports the ratio.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "kiln/kiln.h"

using namespace kiln;

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 50;
  manual_seed(0);
  Tensor x = randn({128, 784});
  Tensor y = randint(0, 10, {128});
  std::vector<Tensor> params = {randn({512, 784}) * 0.03, zeros({512}),
                                randn({256, 512}) * 0.04, zeros({256}),
                                randn({10, 256}) * 0.06,  zeros({10})};
  for (Tensor& p : params) p = p.detach().requires_grad_(true);
  auto step = [&] {
    Tensor h = relu(linear(x, params[0], params[1]));
    h = relu(linear(h, params[2], params[3]));
    Tensor logits = linear(h, params[4], params[5]);
    Tensor loss = -mean(gather(log_softmax(logits, 1), 1, y.unsqueeze(1)));
    for (Tensor& p : params) p.set_grad(Tensor());
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor& p : params) p.sub_(p.grad(), 0.01);
    return loss.item();
  };
  for (int i = 0; i < 5; ++i) step();  // warm-up
  std::vector<double> ms;
  for (int i = 0; i < steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%.4f\n", ms[ms.size() / 2]);
  return 0;
}
