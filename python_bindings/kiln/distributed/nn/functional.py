"""kiln.distributed.nn.functional: collectives with a backward, as torch.distributed.nn.functional.

They block until done and return new tensors; gradients flow back across ranks (the backward of
all_reduce all-reduces the gradient, the backward of all_gather reduce-scatters it), so every
rank must run the backward of the same collectives in the same order.
"""
from ... import _C, no_grad

_d = _C._distributed
ReduceOp = _d.ReduceOp

__all__ = ["all_reduce", "all_gather", "reduce_scatter"]


def all_reduce(tensor, op=ReduceOp.SUM, group=None):
    """The reduction of `tensor` over the ranks (differentiable for SUM and AVG)."""
    return _d.functional_all_reduce(tensor, op, group)


def all_gather(tensor, group=None):
    """Every rank's `tensor`, as a tuple in rank order; dim 0 may differ between ranks."""
    return tuple(_d.functional_all_gather(tensor, group))


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None):
    """The reduction over ranks of their input_list[rank], written into `output` and returned
    (differentiable with respect to input_list)."""
    result = _d.functional_reduce_scatter(list(input_list), op, group)
    with no_grad():
        output.copy_(result)
    return result
