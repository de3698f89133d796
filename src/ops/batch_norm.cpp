// The fused batch_norm op: forward through Backend::batch_norm_forward, backward through
// Backend::batch_norm_backward (training) or Kiln ops (evaluation, and every backward that
// records history). See ops/batch_norm.h.
//
// Layout: x is used as it is when it is dense (contiguous or channels-last), else copied to a
// contiguous tensor (autograd records the copy), so the kernels always see dense x, y, dy and dx
// of one layout. Per-channel tensors reach the kernels as contiguous [C] tensors of the
// statistics dtype (float32 for bfloat16/float16); running statistics of another dtype or layout
// are updated through such a copy and copied back.
//
// Evaluation mode runs the kernel forward (one pass over x, y = x * scale + shift per channel)
// and a backward of a few elementwise ops and sums: faster on the CPU than the composite's five
// passes with four temporaries, and differentiable as it is.
#include "ops/batch_norm.h"

#include "kiln/memory_format.h"
#include "ops/op_common.h"

namespace kiln {
namespace {

const char* kOp = "batch_norm";

// [1, C, 1, ..., 1]: a per-channel vector broadcast over x.
Shape channel_shape(const Tensor& x) {
  Shape s(size_t(x.dim()), 1);
  s[1] = x.size(1);
  return s;
}

// Every dim but the channel dim.
std::vector<int64_t> reduce_dims(const Tensor& x) {
  std::vector<int64_t> d{0};
  for (int64_t i = 2; i < x.dim(); ++i) d.push_back(i);
  return d;
}

// A per-channel tensor as the kernels take it: [C], contiguous, of dtype `sd`, without history
// (a view of `t` when it already is one).
Tensor channel_vector(const Tensor& t, int64_t c, DType sd) {
  if (!t.defined()) return t;
  return cast_raw(t.detach().reshape({c}), sd).contiguous();
}

// The kernel updated `work` in place: make `running` hold it, bumping its version like any
// in-place op (a backward that saved it notices).
void commit_running(const Tensor& running, const Tensor& work) {
  if (!running.defined()) return;
  if (work.shares_storage(running)) {
    running.impl()->storage()->bump_version();
    return;
  }
  NoGradGuard guard;
  Tensor target = running;
  target.copy_(work.reshape(running.shape()));
}

// What a per-channel parameter's gradient must look like.
struct ParamMeta {
  Shape shape;
  DType dtype = DType::Float32;
  bool defined = false;
};
ParamMeta meta_of(const Tensor& t) {
  return t.defined() ? ParamMeta{t.shape(), t.dtype(), true} : ParamMeta{};
}
Tensor as_param_grad(const Tensor& g, const ParamMeta& m) {
  if (!g.defined()) return g;
  return g.reshape(m.shape).to(m.dtype);
}

// The training-mode gradient as Kiln ops: the batch statistics are recomputed from x so that
// their dependence on x is part of the graph (this is what makes it differentiable again).
std::vector<Tensor> training_grad_composite(const FunctionNode& node, const Tensor& x,
                                            const Tensor& w, const Tensor& gy, double eps,
                                            const ParamMeta& wm, const ParamMeta& bm) {
  const std::vector<int64_t> dims = reduce_dims(x);
  const Tensor mu = mean(x, dims, true);
  const Tensor xc = x - mu;
  const Tensor invstd = rsqrt(mean(xc * xc, dims, true) + eps);
  const Tensor xhat = xc * invstd;
  Tensor gx, gw, gb;
  if (node.needs_input_grad(0)) {
    const Tensor scale = w.defined() ? invstd * w.reshape(channel_shape(x)) : invstd;
    gx = ((gy - mean(gy, dims, true) - xhat * mean(gy * xhat, dims, true)) * scale).to(x.dtype());
  }
  if (node.needs_input_grad(1)) gw = as_param_grad(sum(gy * xhat, dims), wm);
  if (node.needs_input_grad(2)) gb = as_param_grad(sum(gy, dims), bm);
  return {gx, gw, gb};
}

// The training-mode gradient through Backend::batch_norm_backward (dx is always computed: the
// backends' contract; it is also what a network's backward needs).
std::vector<Tensor> training_grad_kernel(const FunctionNode& node, const Tensor& x, const Tensor& w,
                                         const Tensor& gy, const Tensor& save_mean,
                                         const Tensor& save_invstd, const ParamMeta& wm,
                                         const ParamMeta& bm) {
  const int64_t c = x.size(1);
  const MemoryFormat fmt = suggest_memory_format(x);
  const TensorOptions sopt(save_mean.dtype(), x.device());
  const Tensor dy = contiguous(gy, fmt);  // grad mode is off: a plain copy, when one is needed
  Tensor dx = empty(x.shape(), TensorOptions(x.dtype(), x.device()), fmt);
  Tensor dw = node.needs_input_grad(1) ? empty({c}, sopt) : Tensor();
  Tensor db = node.needs_input_grad(2) ? empty({c}, sopt) : Tensor();
  backend_for(OpId::BatchNorm, x.device())
      .batch_norm_backward(x, dy, channel_vector(w, c, save_mean.dtype()), save_mean, save_invstd,
                           dx, dw, db);
  return {node.needs_input_grad(0) ? dx : Tensor(), as_param_grad(dw, wm), as_param_grad(db, bm)};
}

void record_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y,
                     const Tensor& save_mean, const Tensor& save_invstd, double eps) {
  SavedTensor sx(x), sw(weight);
  const ParamMeta wm = meta_of(weight), bm = meta_of(bias);
  record("NativeBatchNormBackward0", {x, weight, bias}, {y},
         [sx, sw, save_mean, save_invstd, eps, wm, bm](FunctionNode& node,
                                                       const std::vector<Tensor>& g) {
           const Tensor xs = sx.get(node);
           const Tensor w = sw.defined() ? sw.get(node) : Tensor();
           if (GradMode::is_enabled())  // create_graph: the gradient must have a graph
             return training_grad_composite(node, xs, w, g[0], eps, wm, bm);
           return training_grad_kernel(node, xs, w, g[0], save_mean, save_invstd, wm, bm);
         });
}

// y = (x - rm) * invstd * w + b with rm and invstd = rsqrt(rv + eps) fixed at forward time
// (running statistics are not differentiated).
void record_eval(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y,
                 const Tensor& rm, const Tensor& rv, double eps) {
  Tensor rm_copy, invstd;
  {
    NoGradGuard guard;
    rm_copy = rm.clone();  // rm may be updated in place by a later training step
    invstd = rsqrt(rv + eps);
  }
  SavedTensor sx(x), sw(weight);
  const ParamMeta wm = meta_of(weight), bm = meta_of(bias);
  record("NativeBatchNormBackward0", {x, weight, bias}, {y},
         [sx, sw, rm_copy, invstd, wm, bm](FunctionNode& node, const std::vector<Tensor>& g) {
           const Tensor xs = sx.get(node);
           const Shape cs = channel_shape(xs);
           const std::vector<int64_t> dims = reduce_dims(xs);
           const Tensor inv = invstd.reshape(cs);
           Tensor gx, gw, gb;
           if (node.needs_input_grad(0)) {
             const Tensor scale = sw.defined() ? inv * sw.get(node).reshape(cs) : inv;
             gx = (g[0] * scale).to(xs.dtype());
           }
           if (node.needs_input_grad(1))
             gw = as_param_grad(sum(g[0] * ((xs - rm_copy.reshape(cs)) * inv), dims), wm);
           if (node.needs_input_grad(2)) gb = as_param_grad(sum(g[0], dims), bm);
           return std::vector<Tensor>{gx, gw, gb};
         });
}

}  // namespace

DType batch_norm_stats_dtype(DType x) {
  return x == DType::Float16 || x == DType::BFloat16 ? DType::Float32 : x;
}

bool batch_norm_fusable(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                        const Tensor& weight, const Tensor& bias) {
  if (!x.defined() || !is_floating(x.dtype()) || x.dim() < 2 || x.numel() == 0) return false;
  if (!supports(OpId::BatchNorm, x.device())) return false;
  const DType sd = batch_norm_stats_dtype(x.dtype());
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias}) {
    if (!t->defined()) continue;
    if (t->dtype() != x.dtype() && t->dtype() != sd) return false;
    if (t->device() != x.device() || t->numel() != x.size(1)) return false;
  }
  return true;
}

Tensor batch_norm_fused(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                        const Tensor& weight, const Tensor& bias, bool training, double momentum,
                        double eps) {
  KILN_CHECK_VALUE(batch_norm_fusable(input, running_mean, running_var, weight, bias), kOp,
                   ": the fused kernel does not take input ", describe(input),
                   " with these per-channel tensors");
  const int64_t c = input.size(1);
  KILN_CHECK_VALUE(!training || input.numel() / c != 1, kOp,
                   ": Expected more than 1 value per channel when training, got input size ",
                   shape_str(input.shape()));
  KILN_CHECK_VALUE(training || (running_mean.defined() && running_var.defined()), kOp,
                   ": running_mean and running_var must be defined in evaluation mode "
                   "(training=false)");
  const MemoryFormat fmt = suggest_memory_format(input);
  const Tensor x = contiguous(input, fmt);  // input itself unless it has an odd layout
  const DType sd = batch_norm_stats_dtype(x.dtype());
  const TensorOptions sopt(sd, x.device());
  const Tensor w = channel_vector(weight, c, sd), b = channel_vector(bias, c, sd);
  const Tensor rm = channel_vector(running_mean, c, sd);
  const Tensor rv = channel_vector(running_var, c, sd);
  Tensor y = empty(x.shape(), TensorOptions(x.dtype(), x.device()), fmt);
  Tensor save_mean, save_invstd;
  if (training) {
    save_mean = empty({c}, sopt);
    save_invstd = empty({c}, sopt);
  }
  backend_for(OpId::BatchNorm, x.device())
      .batch_norm_forward(x, w, b, rm, rv, BatchNormArgs{training, momentum, eps}, y, save_mean,
                          save_invstd);
  if (training) {
    commit_running(running_mean, rm);
    commit_running(running_var, rv);
  }
  if (should_record({&x, &weight, &bias})) {
    if (training)
      record_training(x, weight, bias, y, save_mean, save_invstd, eps);
    else
      record_eval(x, weight, bias, y, rm, rv, eps);
  }
  return y;
}

}  // namespace kiln
