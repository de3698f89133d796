# An ordinary PyTorch script: a custom autograd Function (a "leaky clamp" with its own backward),
# checked with gradcheck and used inside a model trained with RMSprop.
# main() returns (final loss, gradcheck result).
import torch
import torch.nn as nn


class LeakyClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.where(x.abs() <= 1, x, x.sign() + slope * (x - x.sign()))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        inside = (x.abs() <= 1).to(grad_output.dtype)
        return grad_output * (inside + ctx.slope * (1 - inside)), None


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 32)
        self.fc2 = nn.Linear(32, 1)

    def forward(self, x):
        return self.fc2(LeakyClamp.apply(self.fc1(x), 0.1))


def main():
    torch.manual_seed(0)
    probe = torch.randn(6, dtype=torch.float64, requires_grad=True) * 2
    probe = probe.detach().requires_grad_()
    check = torch.autograd.gradcheck(lambda t: LeakyClamp.apply(t, 0.1), (probe,))
    x = torch.randn(256, 3)
    y = (x[:, :1] * 2 - x[:, 1:2] + 0.5 * x[:, 2:3] ** 2)
    model = Model()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.003)
    for step in range(400):
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
    return loss.item(), check
