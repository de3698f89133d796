// The library's training loop in a few lines (the snippet in README.md): an MLP on the
// embedded synthetic digits with Adam, then a safetensors checkpoint.
#include <cstdio>

#include "kiln/kiln.h"

using namespace kiln;

int main() {
  manual_seed(0);
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(784, 128),
                                                std::make_shared<nn::ReLU>(),
                                                std::make_shared<nn::Linear>(128, 10));
  optim::Adam opt(model->parameters(), {.lr = 1e-3});
  data::DataLoader loader(std::make_shared<data::TensorDataset>(data::synthetic_digits(8000, 1)),
                          64, /*shuffle=*/true, /*seed=*/0);
  for (int epoch = 0; epoch < 2; ++epoch) {
    double total = 0;
    for (const data::Example& batch : loader) {
      Tensor loss = nn::functional::cross_entropy((*model)(batch.input.flatten(1)), batch.target);
      opt.zero_grad();
      loss.backward();
      opt.step();
      total += loss.item();
    }
    std::printf("epoch %d: mean loss %.4f\n", epoch + 1, total / double(loader.size()));
  }
  save_safetensors("model.safetensors", model->state_dict());
  std::printf("saved model.safetensors\n");
  return 0;
}
