// Derivative utilities on top of the engine: vjp, jvp (forward mode by the double-vjp identity),
// Hessian-vector products and full Jacobians.
#include "autograd/function_node.h"
#include "kiln/ops.h"

namespace kiln::autograd {

namespace {

// Fresh leaves that require grad, sharing the values of `xs`.
std::vector<Tensor> make_leaves(const std::vector<Tensor>& xs) {
  std::vector<Tensor> out;
  for (const Tensor& x : xs) {
    KILN_CHECK(x.defined(), "autograd: undefined input tensor");
    Tensor leaf = x.detach();
    if (is_floating(leaf.dtype())) leaf.requires_grad_(true);
    out.push_back(leaf);
  }
  return out;
}

std::vector<Tensor> detach_all(std::vector<Tensor> xs, bool keep_graph) {
  if (keep_graph) return xs;
  for (Tensor& x : xs)
    if (x.defined()) x = x.detach();
  return xs;
}

void check_pairs(const char* api, const std::vector<Tensor>& xs, const std::vector<Tensor>& vs) {
  KILN_CHECK_VALUE(xs.size() == vs.size(), api, ": got ", xs.size(), " tensors but ", vs.size(),
                   " vectors");
  for (size_t i = 0; i < xs.size(); ++i) {
    KILN_CHECK_VALUE(xs[i].shape() == vs[i].shape(), api, ": vector ", i, " has shape ",
                     shape_str(vs[i].shape()), " but the tensor has shape ",
                     shape_str(xs[i].shape()));
  }
}

std::vector<Tensor> zeros_for_undefined(std::vector<Tensor> gs, const std::vector<Tensor>& like) {
  for (size_t i = 0; i < gs.size(); ++i)
    if (!gs[i].defined()) gs[i] = zeros_like(like[i]);
  return gs;
}

std::vector<Tensor> differentiable(const std::vector<Tensor>& xs) {
  std::vector<Tensor> out;
  for (const Tensor& x : xs)
    if (x.defined() && x.requires_grad()) out.push_back(x);
  return out;
}

}  // namespace

FunctionResult vjp(const Function& f, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& v, bool create_graph) {
  EnableGradGuard grad_on;
  std::vector<Tensor> xs = make_leaves(inputs);
  std::vector<Tensor> ys = f(xs);
  check_pairs("vjp", ys, v);
  std::vector<Tensor> gs;
  if (!differentiable(ys).empty()) {
    std::vector<Tensor> outs, vs;
    for (size_t i = 0; i < ys.size(); ++i) {
      if (!ys[i].requires_grad()) continue;
      outs.push_back(ys[i]);
      vs.push_back(v[i]);
    }
    gs = grad(outs, xs, vs, create_graph, create_graph, /*allow_unused=*/true);
  } else {
    gs.resize(xs.size());
  }
  return {detach_all(ys, create_graph), detach_all(zeros_for_undefined(gs, xs), create_graph)};
}

FunctionResult jvp(const Function& f, const std::vector<Tensor>& primals,
                   const std::vector<Tensor>& tangents, bool create_graph) {
  EnableGradGuard grad_on;
  check_pairs("jvp", primals, tangents);
  std::vector<Tensor> xs = make_leaves(primals);
  std::vector<Tensor> ys = f(xs);
  // g(u) = J^T u is linear in u; differentiating <g(u), v> with respect to u gives J v.
  std::vector<Tensor> outs, us;
  for (const Tensor& y : ys) {
    if (!y.requires_grad()) continue;
    outs.push_back(y);
    us.push_back(zeros_like(y).requires_grad_(true));
  }
  std::vector<Tensor> jv(ys.size());
  if (!outs.empty()) {
    std::vector<Tensor> g = grad(outs, xs, us, true, true, /*allow_unused=*/true);
    std::vector<Tensor> g_used, v_used;
    for (size_t i = 0; i < g.size(); ++i) {
      if (!g[i].defined() || !g[i].requires_grad()) continue;
      g_used.push_back(g[i]);
      v_used.push_back(tangents[i].to(g[i].dtype()));
    }
    if (!g_used.empty()) {
      std::vector<Tensor> ju = grad(g_used, us, v_used, create_graph, create_graph, true);
      for (size_t i = 0, k = 0; i < ys.size(); ++i)
        if (ys[i].requires_grad()) jv[i] = ju[k++];
    }
  }
  return {detach_all(ys, create_graph), detach_all(zeros_for_undefined(jv, ys), create_graph)};
}

FunctionResult hvp(const Function& f, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& v, bool create_graph) {
  EnableGradGuard grad_on;
  check_pairs("hvp", inputs, v);
  std::vector<Tensor> xs = make_leaves(inputs);
  std::vector<Tensor> ys = f(xs);
  KILN_CHECK_VALUE(ys.size() == 1 && ys[0].numel() == 1,
                   "hvp: the function must return a single one-element tensor");
  std::vector<Tensor> g = grad(ys, xs, {}, true, true, true);
  std::vector<Tensor> g_used, v_used, x_used;
  for (size_t i = 0; i < g.size(); ++i) {
    if (!g[i].defined() || !g[i].requires_grad()) continue;
    g_used.push_back(g[i]);
    v_used.push_back(v[i]);
  }
  std::vector<Tensor> hv(xs.size());
  if (!g_used.empty()) hv = grad(g_used, xs, v_used, create_graph, create_graph, true);
  return {detach_all(ys, create_graph), detach_all(zeros_for_undefined(hv, xs), create_graph)};
}

Tensor jacobian(const Function& f, const std::vector<Tensor>& inputs, size_t out, size_t in,
                bool forward_mode) {
  KILN_CHECK_VALUE(in < inputs.size(), "jacobian: input index ", in, " out of range");
  std::vector<Tensor> ys;
  {
    NoGradGuard no_grad;
    ys = f(inputs);
  }
  KILN_CHECK_VALUE(out < ys.size(), "jacobian: output index ", out, " out of range");
  const Tensor& y = ys[out];
  const Tensor& x = inputs[in];
  const int64_t m = y.numel(), n = x.numel();
  DType dt = y.dtype();
  std::vector<Tensor> rows;
  if (!forward_mode) {
    for (int64_t k = 0; k < m; ++k) {
      std::vector<Tensor> v;
      for (size_t i = 0; i < ys.size(); ++i) v.push_back(zeros_like(ys[i]));
      v[out] = zeros({m}, TensorOptions(dt, y.device()));
      v[out].select(0, k).fill_(1);
      v[out] = v[out].view(y.shape());
      rows.push_back(vjp(f, inputs, v).derivatives[in].reshape({n}));
    }
    return stack(rows, 0).reshape([&] {
      Shape s = y.shape();
      s.insert(s.end(), x.shape().begin(), x.shape().end());
      return s;
    }());
  }
  for (int64_t j = 0; j < n; ++j) {
    std::vector<Tensor> t;
    for (const Tensor& xi : inputs) t.push_back(zeros_like(xi));
    Tensor e = zeros({n}, TensorOptions(x.dtype(), x.device()));
    e.select(0, j).fill_(1);
    t[in] = e.view(x.shape());
    rows.push_back(jvp(f, inputs, t).derivatives[out].reshape({m}));
  }
  Shape s = y.shape();
  s.insert(s.end(), x.shape().begin(), x.shape().end());
  return stack(rows, 1).reshape(s);
}

}  // namespace kiln::autograd
