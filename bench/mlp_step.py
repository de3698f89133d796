"""The PyTorch side of bench/mlp_step.cpp: the same MLP step, median milliseconds."""
import sys
import time

import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
torch.manual_seed(0)
x = torch.randn(128, 784)
y = torch.randint(0, 10, (128,))
params = [torch.randn(512, 784) * 0.03, torch.zeros(512), torch.randn(256, 512) * 0.04,
          torch.zeros(256), torch.randn(10, 256) * 0.06, torch.zeros(10)]
params = [p.requires_grad_(True) for p in params]
F = torch.nn.functional


def step():
    h = F.relu(F.linear(x, params[0], params[1]))
    h = F.relu(F.linear(h, params[2], params[3]))
    logits = F.linear(h, params[4], params[5])
    loss = -F.log_softmax(logits, 1).gather(1, y.unsqueeze(1)).mean()
    for p in params:
        p.grad = None
    loss.backward()
    with torch.no_grad():
        for p in params:
            p.sub_(p.grad, alpha=0.01)
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
