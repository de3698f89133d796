// The demo main job: train a small MLP on a 3-class spiral generated in-process, with nothing
// but tensors, autograd and a hand-written SGD-with-momentum step, and print the loss falling.
#include <cmath>
#include <cstdio>
#include <vector>

#include "kiln/kiln.h"

using namespace kiln;

namespace {

// Three interleaved spiral arms in 2-D, with a little noise.
std::pair<Tensor, Tensor> make_spirals(int64_t per_class, int64_t classes) {
  std::vector<double> xs;
  std::vector<int64_t> ys;
  Tensor noise = randn({per_class * classes, 2}, DType::Float64) * 0.15;
  auto nv = noise.to_vector();
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t i = 0; i < per_class; ++i) {
      double r = double(i) / double(per_class);
      double theta = 4.0 * r + 2.0 * M_PI * double(c) / double(classes);
      int64_t k = c * per_class + i;
      xs.push_back(r * std::sin(theta) + nv[size_t(2 * k)] * r);
      xs.push_back(r * std::cos(theta) + nv[size_t(2 * k + 1)] * r);
      ys.push_back(c);
    }
  }
  return {tensor(xs, {per_class * classes, 2}), tensor(ys)};
}

Tensor init(const Shape& shape, int64_t fan_in) {
  // Kaiming-uniform bound for ReLU layers.
  double bound = std::sqrt(6.0 / double(fan_in));
  return (rand(shape) * (2 * bound) - bound).requires_grad_(true);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  Tensor logp = log_softmax(logits, 1);
  return -mean(gather(logp, 1, labels.unsqueeze(1)));
}

}  // namespace

int main() {
  manual_seed(0);
  auto [x, y] = make_spirals(200, 3);
  std::vector<Tensor> params = {init({64, 2}, 2),   zeros({64}).requires_grad_(true),
                                init({64, 64}, 64), zeros({64}).requires_grad_(true),
                                init({3, 64}, 64),  zeros({3}).requires_grad_(true)};
  std::vector<Tensor> velocity;
  for (const Tensor& p : params) velocity.push_back(zeros_like(p));
  auto forward = [&](const Tensor& in) {
    Tensor h = relu(linear(in, params[0], params[1]));
    h = relu(linear(h, params[2], params[3]));
    return linear(h, params[4], params[5]);
  };

  const double lr = 0.2, momentum = 0.9;
  std::printf("Kiln demo: MLP 2-64-64-3 on %lld spiral points, SGD (lr %.2f, momentum %.1f)\n",
              static_cast<long long>(x.size(0)), lr, momentum);
  double first = 0, last = 0;
  for (int step = 0; step <= 400; ++step) {
    Tensor loss = cross_entropy(forward(x), y);
    for (Tensor& p : params) p.set_grad(Tensor());
    loss.backward();
    {
      NoGradGuard no_grad;
      for (size_t i = 0; i < params.size(); ++i) {
        velocity[i].mul_(momentum).add_(params[i].grad());
        params[i].sub_(velocity[i], lr);
      }
    }
    last = loss.item();
    if (step == 0) first = last;
    if (step % 50 == 0) {
      NoGradGuard no_grad;
      double acc = mean(eq(argmax(forward(x), 1), y).to(DType::Float32)).item();
      std::printf("step %4d  loss %.4f  accuracy %.1f%%\n", step, last, 100 * acc);
    }
  }
  std::printf("loss fell from %.4f to %.4f\n", first, last);
  return last < first ? 0 : 1;
}
