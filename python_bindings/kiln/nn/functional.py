"""kiln.nn.functional: torch.nn.functional's activations, layers, distances and losses.

The computation is C++ (kiln._C and kiln._C._nn); these wrappers only add torch's argument
conventions. Notes on what differs from torch:
- The deprecated size_average / reduce arguments of the losses are accepted only as None; pass
  reduction= instead (ValueError otherwise).
- inplace=True uses the tensor's in-place op where Kiln has one (relu_, ...); elsewhere
  (leaky_relu, elu, silu, hardtanh, relu6, dropout) the result is computed out of place and
  copied back into the input, so the input still ends up holding the result.
- embedding: scale_grad_by_freq and sparse gradients are not supported (NotImplementedError).
"""
import warnings

from .. import _C
from .._grad_mode import is_grad_enabled, no_grad

_nn = _C._nn

__all__ = [
    # activations
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "elu",
    "elu_", "gelu", "silu", "sigmoid", "tanh", "softplus", "softmax", "softmin", "log_softmax",
    # layers
    "linear", "bilinear", "dropout", "embedding", "one_hot", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "max_pool2d",
    "max_pool2d_with_indices", "avg_pool2d",
    "max_pool1d", "max_pool1d_with_indices", "avg_pool1d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices",
    "max_unpool2d",
    # distances
    "cosine_similarity", "pairwise_distance", "normalize",
    # losses
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "kl_div",
    "triplet_margin_loss", "cosine_embedding_loss", "margin_ranking_loss",
    # normalisation
    "batch_norm", "group_norm", "instance_norm",
]


def _write_back(input, result_of):
    """input.copy_(result_of(input)), for the in-place forms Kiln has no kernel for. When
    autograd records, the result is computed from a clone, so that the graph keeps the values
    from before the write."""
    source = input.clone() if input.requires_grad and is_grad_enabled() else input
    return input.copy_(result_of(source))


# ---------------------------------------------------------------- activations

def relu(input, inplace=False):
    return input.relu_() if inplace else _C.relu(input)


def relu_(input):
    return input.relu_()


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if inplace:
        return _write_back(input, lambda x: _C.clamp(x, min_val, max_val))
    return _C.clamp(input, min_val, max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:
        return _write_back(input, lambda x: _C.leaky_relu(x, negative_slope))
    return _C.leaky_relu(input, negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def elu(input, alpha=1.0, inplace=False):
    if inplace:
        return _write_back(input, lambda x: _C.elu(x, alpha))
    return _C.elu(input, alpha)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def gelu(input, approximate="none"):
    return _C.gelu(input, approximate=approximate)


def silu(input, inplace=False):
    return _write_back(input, _C.silu) if inplace else _C.silu(input)


sigmoid = _C.sigmoid
tanh = _C.tanh


def softplus(input, beta=1, threshold=20):
    return _C.softplus(input, beta, threshold)


def _get_softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    return _C.softmax(input, dim, dtype=dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("softmin", input.dim(), _stacklevel)
    return _C.softmax(-input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    return _C.log_softmax(input, dim, dtype=dtype)


# ---------------------------------------------------------------- layers

linear = _nn.linear      # linear(input, weight, bias=None)
bilinear = _nn.bilinear  # bilinear(input1, input2, weight, bias=None)
one_hot = _C.one_hot     # one_hot(tensor, num_classes=-1)

# Convolutions (kiln._C._conv); sizes are ints or tuples of one int per spatial dim, as in torch.
# conv{1,2,3}d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1), padding also
# "same" or "valid".
conv1d = _C._conv.conv1d
conv2d = _C._conv.conv2d
conv3d = _C._conv.conv3d
# conv_transpose{1,2}d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
#                      dilation=1); weight [in_channels, out_channels / groups, *kernel].
conv_transpose1d = _C._conv.conv_transpose1d
conv_transpose2d = _C._conv.conv_transpose2d
# max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
#            return_indices=False)
max_pool2d = _C._conv.max_pool2d
# avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
#            count_include_pad=True, divisor_override=None)
avg_pool2d = _C._conv.avg_pool2d

# The rest of the pooling family (kiln._C._pool); sizes are ints or tuples as in torch.
# max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
#            return_indices=False)
max_pool1d = _C._pool.max_pool1d
# avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
#            count_include_pad=True)
avg_pool1d = _C._pool.avg_pool1d
# adaptive_avg_pool1d(input, output_size); adaptive_avg_pool2d(input, output_size), whose
# output_size entries may be None (keep that input size).
adaptive_avg_pool1d = _C._pool.adaptive_avg_pool1d
adaptive_avg_pool2d = _C._pool.adaptive_avg_pool2d
# adaptive_max_pool2d(input, output_size, return_indices=False)
adaptive_max_pool2d = _C._pool.adaptive_max_pool2d
# max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None)
max_unpool2d = _C._pool.max_unpool2d


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool2d(input, output_size, True)

# Normalisation (kiln._C._norm); running statistics are updated in place.
# batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
#            momentum=0.1, eps=1e-05)
batch_norm = _C._norm.batch_norm
# group_norm(input, num_groups, weight=None, bias=None, eps=1e-05)
group_norm = _C._norm.group_norm
# instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
#               use_input_stats=True, momentum=0.1, eps=1e-05)
instance_norm = _C._norm.instance_norm


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def dropout(input, p=0.5, training=True, inplace=False):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not inplace:
        return _C.dropout(input, p, training)
    if not training or p == 0:
        return input
    return _write_back(input, lambda x: _C.dropout(x, p, True))


def _embedding_renorm_(weight, input, max_norm, norm_type):
    """Scales the rows of weight that input refers to down to norm max_norm (in place, without
    history), as torch.embedding_renorm_ does."""
    with no_grad():
        rows = weight.shape[0]
        flat = input.reshape(-1)
        hits = _C._zeros([rows], weight.dtype, weight.device, False).index_add(
            0, flat, _C._ones([flat.numel()], weight.dtype, weight.device, False))
        norms = _C.norm(weight.double(), norm_type, 1)
        too_long = _C.logical_and(hits > 0, norms > max_norm)
        scale = _C.where(too_long, max_norm / (norms + 1e-7), 1.0)
        weight.mul_(scale.to(weight.dtype).unsqueeze(1))


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of weight picked by the integer tensor input. The padding_idx row gets no gradient;
    with max_norm, the rows used are first renormalised in place (as torch does)."""
    if scale_grad_by_freq:
        raise NotImplementedError("embedding: scale_grad_by_freq is not supported by Kiln")
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported by Kiln")
    rows = weight.shape[0]
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise ValueError(f"embedding: padding_idx must be within num_embeddings ({rows}), "
                             f"got {padding_idx}")
        if padding_idx < 0:
            padding_idx += rows
    if max_norm is not None:
        with no_grad():
            _nn.embedding(input, weight)  # checks the indices before the rows are rescaled
        _embedding_renorm_(weight, input, max_norm, norm_type)
    out = _nn.embedding(input, weight)
    if padding_idx is not None and out.requires_grad:
        # Same values, but the entries read from the padding row come from a detached copy,
        # so that row's gradient stays zero (torch's embedding backward skips it).
        is_padding = (input == padding_idx).unsqueeze(-1)
        out = _C.where(is_padding, out.detach(), out)
    return out


# ---------------------------------------------------------------- distances

cosine_similarity = _nn.cosine_similarity  # (x1, x2, dim=1, eps=1e-8)
pairwise_distance = _nn.pairwise_distance  # (x1, x2, p=2.0, eps=1e-6, keepdim=False)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p, eps) along dim."""
    if out is not None:
        raise NotImplementedError("normalize: the out= argument is not supported by Kiln")
    denom = _C.clamp(_C.norm(input, p, dim, True), min=eps)
    return input / denom


# ---------------------------------------------------------------- losses

def _reduction(name, size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        raise ValueError(f"{name}: the deprecated size_average and reduce arguments are not "
                         "supported by Kiln; pass reduction='mean', 'sum' or 'none' instead")
    return reduction


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return _nn.mse_loss(input, target, _reduction("mse_loss", size_average, reduce, reduction))


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return _nn.l1_loss(input, target, _reduction("l1_loss", size_average, reduce, reduction))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    reduction = _reduction("smooth_l1_loss", size_average, reduce, reduction)
    return _nn.smooth_l1_loss(input, target, reduction, beta)


def huber_loss(input, target, reduction="mean", delta=1.0):
    return _nn.huber_loss(input, target, reduction, delta)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    reduction = _reduction("binary_cross_entropy", size_average, reduce, reduction)
    return _nn.binary_cross_entropy(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    reduction = _reduction("binary_cross_entropy_with_logits", size_average, reduce, reduction)
    return _nn.binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    reduction = _reduction("cross_entropy", size_average, reduce, reduction)
    return _nn.cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    reduction = _reduction("nll_loss", size_average, reduce, reduction)
    return _nn.nll_loss(input, target, weight, ignore_index, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    reduction = _reduction("kl_div", size_average, reduce, reduction)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.")
    return _nn.kl_div(input, target, reduction, log_target)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction("triplet_margin_loss", size_average, reduce, reduction)
    return _nn.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    reduction = _reduction("cosine_embedding_loss", size_average, reduce, reduction)
    return _nn.cosine_embedding_loss(input1, input2, target, margin, reduction)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    reduction = _reduction("margin_ranking_loss", size_average, reduce, reduction)
    return _nn.margin_ranking_loss(input1, input2, target, margin, reduction)


# ------------------------- padding, interpolation, pixel shuffle, dropout2d (kiln._C._resample)
# C++: include/kiln/nn/resample.h. These wrappers turn torch's ints / sequences / None into the
# lists the bindings take, and raise torch's exception types where torch checks in Python.

def pad(input, pad, mode="constant", value=None):
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    pads = [int(p) for p in pad]
    if mode != "constant" and len(pads) % 2 == 0 and len(pads) <= 2 * input.dim():
        if not (value is None or value == 0):
            raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
        n, d = len(pads), input.dim()
        if not ((n == 2 and d in (2, 3)) or (n == 4 and d in (3, 4)) or (n == 6 and d in (4, 5))):
            raise NotImplementedError(
                "Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for now")
    return _C._resample.pad(input, pads, mode, None if value is None else float(value))


_INTERPOLATE_DIMS = {"linear": 3, "bilinear": 4, "trilinear": 5}


def _spatial_list(value, input, what, cast):
    dim = input.dim() - 2
    if isinstance(value, (list, tuple)):
        if len(value) != dim:
            if what == "size":
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {list(input.shape[2:])} and output size of "
                    f"{tuple(value)}. Please provide input tensor in (N, C, d1, d2, ...,dK) "
                    "format and output size in (o1, o2, ...,oK) format.")
            raise ValueError(
                "Input and scale_factor must have the same number of spatial dimensions, but "
                f"got input with spatial dimensions of {dim} and scale_factor of shape "
                f"{tuple(value)}.")
        return [cast(v) for v in value]
    return [cast(value)] * dim


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    sizes = _spatial_list(size, input, "size", int) if size is not None else []
    scales = _spatial_list(scale_factor, input, "scale_factor", float) if size is None else []
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by Kiln")
    if mode in _INTERPOLATE_DIMS and input.dim() != _INTERPOLATE_DIMS[mode] and \
            input.dim() in (3, 4, 5):
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} mode needs "
                                  f"{_INTERPOLATE_DIMS[mode]}D input")
    if mode not in ("nearest", "nearest-exact") and mode not in _INTERPOLATE_DIMS or \
            input.dim() not in (3, 4, 5):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.dim()}D) for "
            "the modes: nearest | linear | bilinear | trilinear | nearest-exact (got "
            f"{mode}); Kiln has no bicubic or area interpolation")
    return _C._resample.interpolate(input, sizes, scales, mode, align_corners,
                                    recompute_scale_factor)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate instead.")
    return interpolate(input, size, scale_factor, mode, align_corners)


def pixel_shuffle(input, upscale_factor):
    return _C._resample.pixel_shuffle(input, upscale_factor)


def pixel_unshuffle(input, downscale_factor):
    return _C._resample.pixel_unshuffle(input, downscale_factor)


def dropout2d(input, p=0.5, training=True, inplace=False):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    inp_dim = input.dim()
    if inp_dim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {inp_dim}-D input to dropout2d, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this "
            "warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 3D or 4D inputs).")
    if inp_dim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.")
    if not inplace:
        return _C._resample.dropout2d(input, p, training)
    if not training or p == 0:
        return input
    return _write_back(input, lambda x: _C._resample.dropout2d(x, p, True))


__all__ += ["pad", "interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle", "dropout2d"]
