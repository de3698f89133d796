// Matrix products. bmm is the one op with a kernel; mm, matmul, dot and outer are composites
// of bmm and views, so their backward comes from bmm's and the views'. Like PyTorch, the
// operands of a matrix product must have the same dtype (no promotion).
//
// linear (and linear_act, ops/linear_act.h) of a floating input with a 2-D weight and a bias of
// [out_features] or none run the backend's fused linear (cuBLASLt epilogues on CUDA), with a
// backward written in Kiln ops; other cases run the composite matmul + add.
#include "ops/linear_act.h"
#include "ops/op_common.h"
#include "ops/unary_op.h"

namespace kiln {

namespace {

std::string dims_str(const Tensor& t) {
  std::string s;
  for (size_t i = 0; i < t.shape().size(); ++i) {
    if (i > 0) s += 'x';
    s += std::to_string(t.shape()[i]);
  }
  return s;
}

void check_matmul_dtypes(const char* op, const Tensor& a, const Tensor& b) {
  KILN_CHECK_TYPE(a.dtype() == b.dtype(), op,
                  ": expected both operands to have the same dtype, got ", dtype_name(a.dtype()),
                  " and ", dtype_name(b.dtype()));
  KILN_CHECK_TYPE(a.dtype() != DType::Bool, op, ": not implemented for bool tensors (", describe(a),
                  " and ", describe(b), ")");
}

// The shared checks of every matrix product: defined, same device, same (non-bool) dtype.
void check_operands(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, {&a, &b});
  check_same_device(op, {&a, &b});
  check_matmul_dtypes(op, a, b);
}

Tensor bmm_unchecked(const Tensor& a, const Tensor& b) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  Tensor out = empty({sa[0], sa[1], sb[2]}, TensorOptions(a.dtype(), a.device()));
  backend_for(OpId::Bmm, a.device()).bmm(a, b, out);
  if (should_record({&a, &b})) {
    SavedTensor saved_a(a), saved_b(b);
    record("BmmBackward0", {a, b}, {out},
           [saved_a, saved_b](FunctionNode& n, const std::vector<Tensor>& g) {
             Tensor ga, gb;
             if (n.needs_input_grad(0)) ga = bmm(g[0], transpose(saved_b.get(n), 1, 2));
             if (n.needs_input_grad(1)) gb = bmm(transpose(saved_a.get(n), 1, 2), g[0]);
             return std::vector<Tensor>{ga, gb};
           });
  }
  return out;
}

}  // namespace

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_defined("bmm", {&a, &b});
  KILN_CHECK_VALUE(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D tensors, got batch1 ",
                   shape_str(a.shape()), " and batch2 ", shape_str(b.shape()));
  check_operands("bmm", a, b);
  KILN_CHECK_VALUE(a.size(0) == b.size(0), "bmm: batch1 ", shape_str(a.shape()), " and batch2 ",
                   shape_str(b.shape()), " have different batch sizes (", a.size(0), " vs ",
                   b.size(0), ")");
  KILN_CHECK_VALUE(a.size(2) == b.size(1), "bmm: batch1 ", shape_str(a.shape()), " and batch2 ",
                   shape_str(b.shape()), " have mismatched inner dimensions (", a.size(2), " vs ",
                   b.size(1), ")");
  return bmm_unchecked(a, b);
}

Tensor mm(const Tensor& a, const Tensor& b) {
  check_defined("mm", {&a, &b});
  KILN_CHECK_VALUE(a.dim() == 2 && b.dim() == 2, "mm: expected 2-D tensors, got mat1 ",
                   shape_str(a.shape()), " and mat2 ", shape_str(b.shape()));
  check_operands("mm", a, b);
  KILN_CHECK_VALUE(a.size(1) == b.size(0), "mm: mat1 ", shape_str(a.shape()), " and mat2 ",
                   shape_str(b.shape()), " cannot be multiplied (", dims_str(a), " and ",
                   dims_str(b), ")");
  return reshape(bmm_unchecked(unsqueeze(a, 0), unsqueeze(b, 0)), {a.size(0), b.size(1)});
}

Tensor dot(const Tensor& a, const Tensor& b) {
  check_defined("dot", {&a, &b});
  KILN_CHECK_VALUE(a.dim() == 1 && b.dim() == 1, "dot: expected 1-D tensors, got ",
                   shape_str(a.shape()), " and ", shape_str(b.shape()));
  check_operands("dot", a, b);
  KILN_CHECK_VALUE(a.size(0) == b.size(0), "dot: tensors ", shape_str(a.shape()), " and ",
                   shape_str(b.shape()), " have different numbers of elements (", a.size(0), " vs ",
                   b.size(0), ")");
  const int64_t k = a.size(0);
  return reshape(bmm_unchecked(reshape(a, {1, 1, k}), reshape(b, {1, k, 1})), {});
}

Tensor outer(const Tensor& a, const Tensor& b) {
  check_defined("outer", {&a, &b});
  KILN_CHECK_VALUE(a.dim() == 1 && b.dim() == 1, "outer: expected 1-D tensors, got ",
                   shape_str(a.shape()), " and ", shape_str(b.shape()));
  check_same_device("outer", {&a, &b});
  // An outer product has no sums: a broadcast multiply is exact and promotes like torch.outer.
  return mul(unsqueeze(a, 1), unsqueeze(b, 0));
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined("matmul", {&a, &b});
  KILN_CHECK_VALUE(a.dim() >= 1 && b.dim() >= 1,
                   "matmul: both arguments need to be at least 1-D, got ", shape_str(a.shape()),
                   " and ", shape_str(b.shape()));
  check_operands("matmul", a, b);
  const int64_t da = a.dim(), db = b.dim();
  // A 1-D operand is a row (left) or a column (right) vector whose added dim is dropped again.
  const int64_t k_a = a.size(-1), k_b = db == 1 ? b.size(0) : b.size(-2);
  if (da == 1 && db == 1) {
    KILN_CHECK_VALUE(k_a == k_b, "matmul: 1-D tensors ", shape_str(a.shape()), " and ",
                     shape_str(b.shape()), " have different numbers of elements (", k_a, " vs ",
                     k_b, ")");
    return dot(a, b);
  }
  KILN_CHECK_VALUE(k_a == k_b, "matmul: ", shape_str(a.shape()), " and ", shape_str(b.shape()),
                   " cannot be multiplied (inner dimensions ", k_a, " vs ", k_b, ")");
  Tensor a2 = da == 1 ? unsqueeze(a, 0) : a;   // [..., M, K]
  Tensor b2 = db == 1 ? unsqueeze(b, -1) : b;  // [..., K, N]
  const int64_t m = a2.size(-2), k = k_a, n = b2.size(-1);
  const Shape batch_a(a2.shape().begin(), a2.shape().end() - 2);
  const Shape batch_b(b2.shape().begin(), b2.shape().end() - 2);

  // The result's shape, with the vector dims dropped.
  auto result_shape = [&](const Shape& batch) {
    Shape s = batch;
    if (da > 1) s.push_back(m);
    if (db > 1) s.push_back(n);
    return s;
  };

  if (batch_b.empty()) {
    // [..., M, K] @ [K, N]: fold a's batch into its rows and run a single matrix product, so
    // that the gradient of b is one product too (no broadcast to sum away).
    Tensor rows = reshape(a2, {numel_of(batch_a) * m, k});
    return reshape(mm(rows, b2), result_shape(batch_a));
  }

  Shape batch;
  try {
    batch = broadcast_shapes("matmul", batch_a, batch_b);
  } catch (const ValueError&) {
    throw ValueError(detail::concat("matmul: the batch dimensions of ", shape_str(a.shape()),
                                    " and ", shape_str(b.shape()),
                                    " cannot be broadcast together"));
  }
  const int64_t nb = numel_of(batch);
  auto batched = [&](const Tensor& t, int64_t rows, int64_t cols) {
    Shape full = batch;
    full.push_back(rows);
    full.push_back(cols);
    return reshape(expand(t, full), {nb, rows, cols});
  };
  Tensor out = bmm_unchecked(batched(a2, m, k), batched(b2, k, n));
  return reshape(out, result_shape(batch));
}

namespace {

// The argument checks every linear shares; the messages name the composite's terms.
void check_linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_defined("linear", {&x, &weight});
  check_same_device("linear", {&x, &weight, &bias});
  KILN_CHECK_VALUE(weight.dim() == 2,
                   "linear: expected a 2-D weight [out_features, in_features], "
                   "got ",
                   shape_str(weight.shape()));
  KILN_CHECK_VALUE(x.dim() >= 1, "linear: expected an input of at least 1 dimension, got ",
                   shape_str(x.shape()));
  KILN_CHECK_VALUE(x.size(-1) == weight.size(1), "linear: input ", shape_str(x.shape()),
                   " and weight ", shape_str(weight.shape()), " have mismatched features (",
                   x.size(-1), " vs ", weight.size(1), ")");
  KILN_CHECK_TYPE(x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == x.dtype()),
                  "linear: expected input, weight and bias to have the same dtype, got ",
                  dtype_name(x.dtype()), ", ", dtype_name(weight.dtype()),
                  bias.defined() ? std::string(" and ") + dtype_name(bias.dtype()) : "");
}

// Whether Backend::linear takes it (after check_linear): floating, bias [out_features] or none.
bool fusable(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return is_floating(x.dtype()) &&
         (!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)));
}

Tensor linear_composite(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Tensor out = matmul(x, transpose(weight, 0, 1));
  if (!bias.defined()) return out;
  KILN_CHECK_VALUE(broadcasts_to(bias.shape(), out.shape()), "linear: bias ",
                   shape_str(bias.shape()), " does not broadcast to the output ",
                   shape_str(out.shape()));
  return add(out, bias);
}

// act(x @ weight^T + bias) through Backend::linear; x of any rank >= 1 is flattened to rows.
Tensor linear_fused(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act) {
  const int64_t k = weight.size(1), n = weight.size(0);
  const Shape lead(x.shape().begin(), x.shape().end() - 1);
  const int64_t m = numel_of(lead);
  const Tensor x2 = x.dim() == 2 ? x : reshape(x, {m, k});
  Tensor out = empty({m, n}, TensorOptions(x.dtype(), x.device()));
  backend_for(OpId::Linear, x.device()).linear(x2, weight, bias, act, out);

  if (should_record({&x2, &weight, &bias})) {
    SavedTensor saved_x(x2), saved_w(weight), saved_b(bias);
    auto backward = [saved_x, saved_w, saved_b, act](FunctionNode& node,
                                                     const std::vector<Tensor>& g) {
      const Tensor xs = saved_x.get(node), w = saved_w.get(node);
      Tensor gz = g[0];  // the gradient at the pre-activation z = x @ w^T + b
      if (act == Activation::Relu) {
        gz = mask_grad(node.saved_output(0) > 0, gz);
      } else if (act == Activation::Gelu) {
        // z is recomputed rather than kept: one more product in backward, no [M, N] buffer
        // held between forward and backward.
        const Tensor b = saved_b.defined() ? saved_b.get(node) : Tensor();
        gz = gz * gelu_tanh_grad_factor(linear_fused(xs, w, b, Activation::None));
      }
      Tensor gx, gw, gb;
      if (node.needs_input_grad(0)) gx = mm(gz, w);
      if (node.needs_input_grad(1)) gw = mm(transpose(gz, 0, 1), xs);
      if (node.needs_input_grad(2)) gb = sum(gz, {0});
      return std::vector<Tensor>{gx, gw, gb};
    };
    const char* name = act == Activation::Relu   ? "LinearReluBackward0"
                       : act == Activation::Gelu ? "LinearGeluBackward0"
                       : bias.defined()          ? "AddmmBackward0"
                                                 : "MmBackward0";
    if (act == Activation::Relu)
      record(name, {x2, weight, bias}, {out}, backward, {0});
    else
      record(name, {x2, weight, bias}, {out}, backward);
  }
  if (x.dim() == 2) return out;
  Shape shape = lead;
  shape.push_back(n);
  return reshape(out, shape);
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear(x, weight, bias);
  if (fusable(x, weight, bias)) return linear_fused(x, weight, bias, Activation::None);
  return linear_composite(x, weight, bias);
}

Tensor linear_act(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act) {
  check_linear(x, weight, bias);
  if (fusable(x, weight, bias)) return linear_fused(x, weight, bias, act);
  Tensor z = linear_composite(x, weight, bias);
  switch (act) {
    case Activation::Relu:
      return relu(z);
    case Activation::Gelu:
      return gelu(z, "tanh");
    case Activation::None:
      break;
  }
  return z;
}

}  // namespace kiln
