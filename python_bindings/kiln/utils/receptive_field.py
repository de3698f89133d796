"""kiln.utils.receptive_field: layer by layer, the output shape and the receptive field of a
convolutional network (size, jump = cumulative stride, start = centre of the first output's
field), per spatial dimension, in input pixels. The Python twin of C++'s
kiln::nn::receptive_field (include/kiln/nn/receptive_field.h): the same rules, the same
numbers, the same printed table.

    from kiln.utils.receptive_field import receptive_field
    rf = receptive_field(model, (1, 3, 224, 224))
    print(rf)                                   # one row per layer
    rf.at("layer4.1.relu", last=True).receptive_field   # (435.0, 435.0) for ResNet-18

Input pixel i sits at i; through a layer with kernel k, stride s, padding p (before the first
element) and dilation d, with k_eff = d * (k - 1) + 1:
    jump' = jump * s;  field' = field + (k_eff - 1) * jump;
    start' = start + ((k_eff - 1) / 2 - p) * jump.

The walk follows the main path: an nn.Sequential runs its children in order; a module with a
trace_field(tracer, x) method (the kiln.models networks) runs its forward with each main-path
child called through tracer.step(name, child, x), shortcuts and skip branches running as usual,
unrecorded (a residual sum or skip concatenation is charged to the main path, whose field
contains the branch's); a layer (no children) is recognised by type (convolutions, max / avg /
adaptive pools, transposed convolutions, Upsample, PixelShuffle / PixelUnshuffle, the Pad2d
modules); any other layer that keeps the spatial sizes leaves the field unchanged, one that
changes them is an error; any other module with children is an error. Forward hooks would see
the layers but not which of them form the main path, hence the explicit walk. When the tensor
stops being [N, C, *spatial] the field folds over what is left (field += (size - 1) * jump,
start += (size - 1) / 2 * jump, jump *= size). The full rules, including up-sampling and uneven
adaptive pools, are in the C++ header.
"""
import math
from collections import namedtuple

from .. import _grad_mode
from .. import _factories
from ..nn.modules.container import Sequential
from ..nn.modules.conv import _ConvNd
from ..nn.modules.padding import ConstantPad2d, _NonConstantPad2d
from ..nn.modules.pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool2d,
                                  AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d)
from ..nn.modules.resample import PixelShuffle, PixelUnshuffle, Upsample

__all__ = ["receptive_field", "ReceptiveField", "LayerField", "FieldTracer"]

# One row: the state after a layer, per spatial dimension (tuples of floats).
LayerField = namedtuple("LayerField",
                        ["name", "type", "output_shape", "receptive_field", "jump", "start"])


def _number(v):
    """Whole numbers without decimals, others as %.6g (as the C++ table)."""
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    return "%.6g" % v


def _dims(values):
    return "x".join(_number(v) for v in values)


def _shape(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _per_dim(value, dims):
    """A layer setting as one value per spatial dim (an int is repeated)."""
    if isinstance(value, int):
        return (value,) * dims
    value = tuple(value)
    return value * dims if len(value) == 1 else value


class ReceptiveField:
    """The table: `layers` (LayerField rows, the input first), `at(name)`, str() prints it."""

    def __init__(self, layers):
        self.layers = layers

    def at(self, name, last=False):
        """The first row named `name` (the last with last=True, for a layer run several
        times); ValueError when absent."""
        found = None
        for layer in self.layers:
            if layer.name == name:
                found = layer
                if not last:
                    break
        if found is None:
            raise ValueError(f"receptive_field: no layer named '{name}'")
        return found

    def to_string(self):
        rows = [("layer", "type", "output shape", "receptive field", "jump", "start")]
        rows += [(l.name, l.type, _shape(l.output_shape), _dims(l.receptive_field),
                  _dims(l.jump), _dims(l.start)) for l in self.layers]
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = []
        for r in rows:
            cells = [cell.ljust(widths[c] + 2) if c + 1 < len(r) else cell
                     for c, cell in enumerate(r)]
            lines.append("".join(cells))
        return "\n".join(lines) + "\n"

    __str__ = to_string

    def __repr__(self):
        return f"ReceptiveField({len(self.layers)} rows)\n" + self.to_string()


class FieldTracer:
    """Walks a model's main path; created by receptive_field()."""

    def __init__(self, input_shape):
        self._dims = len(input_shape) - 2
        self._size = list(input_shape[2:])
        self._field = [1.0] * self._dims
        self._jump = [1.0] * self._dims
        self._start = [0.0] * self._dims
        self._spatial = True
        self._prefix = []
        self.layers = [LayerField("input", "-", tuple(input_shape), tuple(self._field),
                                  tuple(self._jump), tuple(self._start))]

    @staticmethod
    def call(tracer, name, module, x):
        """module(x), through tracer.step when tracing (tracer is None in a plain forward)."""
        return module(x) if tracer is None else tracer.step(name, module, x)

    def step(self, name, module, x):
        """Runs `module` (the child `name` of the module being traced) on `x` along the main
        path: recurses into Sequential / trace_field modules, records a row per layer."""
        self._prefix.append(name)
        try:
            path = ".".join(p for p in self._prefix if p)
            trace = getattr(module, "trace_field", None)
            if callable(trace):
                return trace(self, x)
            if isinstance(module, Sequential):
                for child_name, child in module._modules.items():
                    x = self.step(child_name, child, x)
                return x
            if len(module._modules) > 0:
                raise ValueError(
                    f"receptive_field: cannot trace {type(module).__name__} "
                    f"'{path or 'model'}': a module with submodules must be a Sequential or "
                    "define trace_field(tracer, x) (its forward is not known to be its "
                    "children in order)")
            return self._layer(path, module, x)
        finally:
            self._prefix.pop()

    # ---------------- one layer ----------------

    def _check_input(self, path, module, x):
        if not self._spatial:
            return
        if x.dim() != 2 + self._dims:
            self._fold()
            return
        size = list(x.shape[2:])
        if size != self._size:
            raise ValueError(
                f"receptive_field: {type(module).__name__} '{path}' gets spatial size "
                f"{_shape(size)} but the traced path ends at {_shape(self._size)}: an operation "
                "outside the traced layers changed it (call that layer through "
                "FieldTracer.step)")

    def _fold(self):
        for i, n in enumerate(self._size):
            self._field[i] += (n - 1) * self._jump[i]
            self._start[i] += (n - 1) / 2 * self._jump[i]
            self._jump[i] *= n
            self._size[i] = 1
        self._spatial = False

    def _window(self, i, k_eff, s, p):
        self._start[i] += ((k_eff - 1) / 2 - p) * self._jump[i]
        self._field[i] += (k_eff - 1) * self._jump[i]
        self._jump[i] *= s

    def _upsample(self, i, scale, first, span):
        self._start[i] += first * self._jump[i]
        self._field[i] += span * self._jump[i]
        self._jump[i] /= scale

    def _adaptive(self, i, n):
        size = self._size[i]
        if n > 0 and size % n == 0:
            return self._window(i, size // n, size // n, 0)
        # Window o covers [floor(o * size / n), ceil((o + 1) * size / n)).
        longest = max(-(-(o + 1) * size // n) - o * size // n for o in range(n))
        first = -(-size // n)
        self._start[i] += (first - 1) / 2 * self._jump[i]
        self._field[i] += (longest - 1) * self._jump[i]
        self._jump[i] *= size / n

    def _layer(self, path, module, x):
        self._check_input(path, module, x)
        y = module(x)
        if self._spatial and y.dim() != 2 + self._dims:
            self._fold()
        elif self._spatial:
            self._apply(path, module, list(y.shape[2:]))
        self.layers.append(LayerField(path or "model", type(module).__name__, tuple(y.shape),
                                      tuple(self._field), tuple(self._jump),
                                      tuple(self._start)))
        return y

    def _apply(self, path, module, out):
        nd = self._dims
        if isinstance(module, _ConvNd):
            k = _per_dim(module.kernel_size, nd)
            s = _per_dim(module.stride, nd)
            d = _per_dim(module.dilation, nd)
            if module.padding == "same":
                p = tuple(di * (ki - 1) // 2 for di, ki in zip(d, k))
            elif module.padding == "valid":
                p = (0,) * nd
            else:
                p = _per_dim(module.padding, nd)
            for i in range(nd):
                k_eff = d[i] * (k[i] - 1) + 1
                if module.transposed:
                    self._upsample(i, s[i], (p[i] - (k_eff - 1) / 2) / s[i],
                                   math.floor((k_eff - 1) / s[i]))
                else:
                    self._window(i, k_eff, s[i], p[i])
        elif isinstance(module, (MaxPool1d, MaxPool2d)):
            k, s = _per_dim(module.kernel_size, nd), _per_dim(module.stride, nd)
            p, d = _per_dim(module.padding, nd), _per_dim(module.dilation, nd)
            for i in range(nd):
                self._window(i, d[i] * (k[i] - 1) + 1, s[i], p[i])
        elif isinstance(module, (AvgPool1d, AvgPool2d)):
            k, s = _per_dim(module.kernel_size, nd), _per_dim(module.stride, nd)
            p = _per_dim(module.padding, nd)
            for i in range(nd):
                self._window(i, k[i], s[i], p[i])
        elif isinstance(module, (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool2d)):
            for i in range(nd):
                self._adaptive(i, out[i])
        elif isinstance(module, Upsample):
            span = {"nearest": 0.0, "nearest-exact": 0.0, "bicubic": 3.0}.get(module.mode, 1.0)
            for i in range(nd):
                if module.align_corners and out[i] > 1:
                    # Corners on corners: output o at o * (in - 1) / (out - 1).
                    self._upsample(i, (out[i] - 1) / max(self._size[i] - 1, 1), 0.0, span)
                else:
                    scale = out[i] / self._size[i]
                    self._upsample(i, scale, 0.5 / scale - 0.5, span)
        elif isinstance(module, PixelShuffle):
            for i in range(nd):
                scale = out[i] / self._size[i]
                self._upsample(i, scale, 0.5 / scale - 0.5, 0.0)
        elif isinstance(module, PixelUnshuffle):
            for i in range(nd):
                r = self._size[i] / out[i]
                self._window(i, r, r, 0.0)
        elif isinstance(module, (ConstantPad2d, _NonConstantPad2d)):
            left, _, top, _ = module.padding  # (left, right, top, bottom)
            for i, before in zip((nd - 1, nd - 2), (left, top)):
                if i >= 0:
                    self._window(i, 1, 1, before)
        elif out != self._size:
            raise ValueError(
                f"receptive_field: {type(module).__name__} '{path}' changes the spatial size "
                f"from {_shape(self._size)} to {_shape(out)} and its geometry is not known")
        self._size = list(out)


def receptive_field(model, input_shape):
    """The ReceptiveField table of `model` on an input of `input_shape` ([N, C, *spatial], 1
    to 3 spatial dims). Runs the layers on zeros of the dtype and device of the model's first
    parameter (float32 on the CPU without parameters) in eval mode under no_grad; the training
    flags are restored afterwards."""
    input_shape = tuple(int(s) for s in input_shape)
    if not 3 <= len(input_shape) <= 5:
        raise ValueError("receptive_field: expected an input shape [N, C, *spatial] with 1 to "
                         f"3 spatial dims, got {_shape(input_shape)}")
    if any(s <= 0 for s in input_shape):
        raise ValueError(f"receptive_field: input shape {_shape(input_shape)} has an empty "
                         "dimension")
    param = next(iter(model.parameters()), None)
    kwargs = {} if param is None else {"dtype": param.dtype, "device": param.device}
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with _grad_mode.no_grad():
            tracer = FieldTracer(input_shape)
            tracer.step("", model, _factories.zeros(input_shape, **kwargs))
    finally:
        for m, flag in flags:
            m.training = flag
    return ReceptiveField(tracer.layers)
