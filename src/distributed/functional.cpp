// Differentiable collectives (kiln/distributed/functional.h): each is a recorded op whose
// backward is the adjoint collective, written with these same functions so that it is itself
// differentiable. all_reduce(Sum)'s adjoint is all_reduce(Sum); all_gather's is reduce_scatter
// (rank r's input receives the sum over ranks of the gradient of their result[r]), and the other
// way round.
//
// Every rank must run the same backward collectives in the same order, so a backward always
// issues its collective, even when this rank needs no gradient for that input, and an undefined
// incoming gradient counts as zeros.
#include "kiln/distributed/functional.h"

#include "autograd/function_node.h"
#include "distributed/process_group_internal.h"
#include "kiln/autograd.h"
#include "kiln/ops.h"

namespace kiln::distributed {

namespace {

// The group for a backward that may run after the caller's reference is gone: the default group
// is held (shared); any other group must outlive the graph (it is referenced, not owned).
std::shared_ptr<ProcessGroup> hold(ProcessGroup& pg) {
  if (is_initialized()) {
    std::shared_ptr<ProcessGroup> group = default_group();
    if (group.get() == &pg) return group;
  }
  return std::shared_ptr<ProcessGroup>(std::shared_ptr<ProcessGroup>(), &pg);
}

bool differentiable(ReduceOp op) { return op == ReduceOp::Sum || op == ReduceOp::Avg; }

// The gradient of output i, or zeros of that output's shape when none arrived.
Tensor grad_or_zeros(const FunctionNode& node, const std::vector<Tensor>& grads, size_t i) {
  if (grads[i].defined()) return grads[i];
  const GradMeta& meta = node.grad_meta()[i];
  return zeros(meta.shape, TensorOptions(meta.dtype, meta.device));
}

// Each rank's size of dim 0 (-1 for a 0-d tensor), in rank order.
std::vector<int64_t> exchange_dim0(const Tensor& x, ProcessGroup& pg) {
  const int n = pg.size();
  const Tensor mine =
      tensor(std::vector<int64_t>{x.dim() == 0 ? -1 : x.size(0)}, {1}).to(x.device());
  std::vector<Tensor> all(static_cast<size_t>(n));
  for (Tensor& t : all) t = empty({1}, TensorOptions(DType::Int64, x.device()));
  pg.all_gather(all, mine)->wait();
  std::vector<int64_t> sizes;
  for (const Tensor& t : all) sizes.push_back(t.cpu().item<int64_t>());
  return sizes;
}

Tensor reduce_scatter_impl(const std::vector<Tensor>& inputs, ReduceOp op,
                           const std::shared_ptr<ProcessGroup>& pg);

std::vector<Tensor> all_gather_impl(const Tensor& x, const std::shared_ptr<ProcessGroup>& pg) {
  KILN_CHECK_VALUE(x.defined(), "all_gather: the input is an undefined tensor");
  const std::vector<int64_t> dim0 = exchange_dim0(x, *pg);
  std::vector<Tensor> outputs;
  for (size_t r = 0; r < dim0.size(); ++r) {
    Shape shape = x.shape();
    KILN_CHECK_VALUE((dim0[r] < 0) == (x.dim() == 0), "all_gather: rank ", pg->rank(), " has ",
                     detail::describe(x), " but rank ", r, " has a tensor of ",
                     dim0[r] < 0 ? "0" : "1 or more", " dims");
    if (!shape.empty()) shape[0] = dim0[r];
    outputs.push_back(empty(shape, TensorOptions(x.dtype(), x.device())));
  }
  pg->all_gather(outputs, x.detach())->wait();
  if (should_record({&x})) {
    record("AllGatherBackward", {x}, outputs,
           [pg](FunctionNode& node, const std::vector<Tensor>& grads) {
             std::vector<Tensor> parts;
             for (size_t r = 0; r < grads.size(); ++r)
               parts.push_back(grad_or_zeros(node, grads, r));
             return std::vector<Tensor>{reduce_scatter_impl(parts, ReduceOp::Sum, pg)};
           });
  }
  return outputs;
}

Tensor reduce_scatter_impl(const std::vector<Tensor>& inputs, ReduceOp op,
                           const std::shared_ptr<ProcessGroup>& pg) {
  KILN_CHECK_VALUE(int(inputs.size()) == pg->size(),
                   "reduce_scatter: inputs must hold one tensor per rank (", pg->size(), "), got ",
                   inputs.size());
  const Tensor& own = inputs[size_t(pg->rank())];
  KILN_CHECK_VALUE(own.defined(), "reduce_scatter: inputs[", pg->rank(), "] is undefined");
  std::vector<Tensor> detached;
  for (const Tensor& t : inputs) detached.push_back(t.detach());
  const bool history = should_record(inputs);
  KILN_CHECK_VALUE(!history || differentiable(op), "reduce_scatter: ReduceOp.", reduce_op_name(op),
                   " has no gradient (only sum and avg are differentiable)");
  Tensor out = empty(own.shape(), TensorOptions(own.dtype(), own.device()));
  pg->reduce_scatter(out, detached, op)->wait();
  if (history) {
    auto backward = [pg, op](FunctionNode& node, const std::vector<Tensor>& grads) {
      std::vector<Tensor> parts = all_gather_impl(grad_or_zeros(node, grads, 0), pg);
      if (op == ReduceOp::Avg) {
        for (Tensor& p : parts) p = p / double(pg->size());
      }
      return parts;
    };
    record("ReduceScatterBackward", inputs, {out}, backward);
  }
  return out;
}

Tensor all_reduce_impl(const Tensor& x, ReduceOp op, const std::shared_ptr<ProcessGroup>& pg) {
  KILN_CHECK_VALUE(x.defined(), "all_reduce: the tensor is undefined");
  const bool history = should_record({&x});
  KILN_CHECK_VALUE(!history || differentiable(op), "all_reduce: ReduceOp.", reduce_op_name(op),
                   " has no gradient (only sum and avg are differentiable); detach the input "
                   "or use ProcessGroup::all_reduce");
  Tensor out;
  {
    NoGradGuard no_grad;
    out = x.detach().clone();
  }
  pg->all_reduce(out, op)->wait();
  if (history) {
    auto backward = [pg, op](FunctionNode& node, const std::vector<Tensor>& grads) {
      return std::vector<Tensor>{all_reduce_impl(grad_or_zeros(node, grads, 0), op, pg)};
    };
    record("AllReduceBackward", {x}, {out}, backward);
  }
  return out;
}

}  // namespace

Tensor all_reduce(const Tensor& x, ReduceOp op, ProcessGroup& pg) {
  return all_reduce_impl(x, op, hold(pg));
}

std::vector<Tensor> all_gather(const Tensor& x, ProcessGroup& pg) {
  return all_gather_impl(x, hold(pg));
}

Tensor reduce_scatter(const std::vector<Tensor>& inputs, ReduceOp op, ProcessGroup& pg) {
  return reduce_scatter_impl(inputs, op, hold(pg));
}

}  // namespace kiln::distributed
