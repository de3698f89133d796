"""The PyTorch side of `kiln bench`: the same MLP 784-512-256-10 training step (cross-entropy,
SGD with momentum 0.9) at batch 128; prints the median milliseconds per step."""
import sys
import time

import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                            torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = torch.randn(128, 784)
y = torch.randint(0, 10, (128,))


def step():
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


for _ in range(5):
    step()
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(f"{times[len(times) // 2]:.4f}")
