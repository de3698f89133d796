// softmax and log_softmax along one dim. The kernel is numerically stable (it subtracts the row
// maximum); the backward formulas use the saved output y, written with Kiln ops:
//   softmax:      dx = y * (g - sum(g * y, dim))
//   log_softmax:  dx = g - exp(y) * sum(g, dim)
#include <algorithm>

#include "ops/op_common.h"

namespace kiln {

namespace {

Tensor softmax_op(OpId op, const char* node, const Tensor& x, int64_t dim) {
  const char* name = op_name(op);
  check_defined(name, {&x});
  KILN_CHECK_TYPE(is_floating(x.dtype()), name, ": expected a floating point tensor, got ",
                  dtype_name(x.dtype()), " (input shape ", shape_str(x.shape()), ")");
  const int64_t d = wrap_dim(name, dim, x.shape());
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  backend_for(op, x.device()).softmax(op, x, d, out);
  if (should_record({&x})) {
    const bool log = op == OpId::LogSoftmax;
    record(node, {x}, {out},
           [d, log](FunctionNode& fn, const std::vector<Tensor>& g) {
             Tensor y = fn.saved_output(0);
             if (log) return std::vector<Tensor>{g[0] - exp(y) * sum(g[0], {d}, true)};
             return std::vector<Tensor>{y * (g[0] - sum(g[0] * y, {d}, true))};
           },
           {0});
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  return softmax_op(OpId::Softmax, "SoftmaxBackward0", x, dim);
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  return softmax_op(OpId::LogSoftmax, "LogSoftmaxBackward0", x, dim);
}

}  // namespace kiln
