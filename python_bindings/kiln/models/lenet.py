"""LeNet-5 for 28x28 inputs (as C++'s kiln::models::LeNet5): conv1 6@5x5 padding 2, ReLU, max
pool 2, conv2 16@5x5, ReLU, max pool 2, flatten (16 x 5 x 5 = 400), fc1 120, ReLU, fc2 84,
ReLU, fc3 num_classes. ReLU and max pooling replace the paper's scaled tanh and trainable
sub-sampling (faster training, lower error). Parameters: conv1, conv2, fc1, fc2, fc3."""
from .. import flatten, nn
from ..utils.receptive_field import FieldTracer

__all__ = ["LeNet5"]


class LeNet5(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2)  # after each convolution
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def _run(self, x, tracer):
        call = FieldTracer.call
        x = call(tracer, "pool", self.pool,
                 call(tracer, "relu", self.relu, call(tracer, "conv1", self.conv1, x)))
        x = call(tracer, "pool", self.pool,
                 call(tracer, "relu", self.relu, call(tracer, "conv2", self.conv2, x)))
        x = call(tracer, "relu", self.relu, call(tracer, "fc1", self.fc1, flatten(x, 1)))
        x = call(tracer, "relu", self.relu, call(tracer, "fc2", self.fc2, x))
        return call(tracer, "fc3", self.fc3, x)

    def forward(self, x):
        return self._run(x, None)

    def trace_field(self, tracer, x):
        return self._run(x, tracer)
