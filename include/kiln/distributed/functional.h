#pragma once
// Differentiable collectives (DESIGN.md point 6): ops with a backward, so SyncBatchNorm and
// model-parallel code are composites whose gradients come from these. They block until the
// collective has completed and return new tensors (the input is not modified). The backward
// runs its collective on the same group: the default group is kept alive by the graph, any other
// group must outlive it.
#include <vector>

#include "kiln/distributed/process_group.h"
#include "kiln/tensor.h"

namespace kiln::distributed {

// Returns the reduction of x over the ranks of pg. Differentiable for Sum and Avg: the backward
// all-reduces the gradient with the same op (every rank's output depends on every rank's x).
// Max/Min have no gradient (raises when x requires grad and grad mode is on).
Tensor all_reduce(const Tensor& x, ReduceOp op, ProcessGroup& pg);

// Returns every rank's x, in rank order. The sizes of dim 0 may differ between ranks (they are
// exchanged first); the other dims must agree. Backward: rank r's x receives the sum over ranks
// of the gradient of result[r] (a reduce-scatter).
std::vector<Tensor> all_gather(const Tensor& x, ProcessGroup& pg);

// Returns the reduction over ranks of inputs[rank()] (inputs.size() == pg.size(); inputs[r] has
// rank r's shape). Differentiable for Sum and Avg: inputs[r] receives rank r's gradient (an
// all-gather; divided by the size for Avg).
Tensor reduce_scatter(const std::vector<Tensor>& inputs, ReduceOp op, ProcessGroup& pg);

}  // namespace kiln::distributed
