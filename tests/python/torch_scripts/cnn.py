# An ordinary PyTorch script: a small CNN (conv, ReLU, max pooling, linear head) telling
# horizontal from vertical bars in noisy 12x12 images, SGD with momentum.
# main() returns (final training loss, test accuracy).
import torch
import torch.nn as nn
import torch.nn.functional as F


def bars(n):
    images = 0.3 * torch.randn(n, 1, 12, 12)
    labels = torch.randint(0, 2, (n,))
    for i in range(n):
        row_or_col = int(torch.randint(1, 11, (1,)).item())
        if labels[i].item() == 0:
            images[i, 0, row_or_col, 2:10] += 1.0
        else:
            images[i, 0, 2:10, row_or_col] += 1.0
    return images, labels


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, stride=1, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 3 * 3, 2)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


def main():
    torch.manual_seed(0)
    x_train, y_train = bars(256)
    x_test, y_test = bars(128)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(6):
        model.train()
        for i in range(0, 256, 32):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x_train[i:i + 32]), y_train[i:i + 32])
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
    return loss.item(), accuracy
