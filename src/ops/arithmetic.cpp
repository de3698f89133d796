// Binary arithmetic with broadcasting and type promotion. Backward formulas return gradients in
// the broadcast shape; the engine sums them down to each input's shape (see engine.cpp).
#include <cmath>

#include "kiln/memory_format.h"
#include "ops/unary_op.h"

namespace kiln {

namespace {

// Runs a binary kernel with PyTorch's promotion; bool arithmetic is done in int64.
Tensor binary_arith(OpId op, const Tensor& a, const Tensor& b, bool true_division = false) {
  const char* name = op_name(op);
  check_defined(name, {&a, &b});
  DType type = result_type({&a, &b});
  if (true_division) type = floating_compute_type(type);
  DType compute = type == DType::Bool ? DType::Int64 : type;
  Tensor out = binary_raw(op, a, b, compute, compute);
  return type == compute ? out : cast_raw(out, type);
}

void check_nonzero_integer_divisor(const char* op, const Tensor& a, const Tensor& b) {
  if (is_floating(result_type({&a, &b}))) return;
  Tensor zero = eq(b, wrapped_scalar(0, b.device()));
  KILN_CHECK_VALUE(!any_true(zero), op, ": integer division by zero");
}

}  // namespace

bool any_true(const Tensor& mask) {
  for (double v : mask.to_vector())
    if (v != 0) return true;
  return false;
}

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() != 1.0) return add(a, mul(b, wrapped_scalar(alpha, b.device())));
  Tensor out = binary_arith(OpId::Add, a, b);
  if (should_record({&a, &b})) {
    record("AddBackward0", {a, b}, {out}, [](FunctionNode&, const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0], g[0]};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() != 1.0) return sub(a, mul(b, wrapped_scalar(alpha, b.device())));
  KILN_CHECK_TYPE(
      !(a.defined() && b.defined() && a.dtype() == DType::Bool && b.dtype() == DType::Bool),
      "sub: subtracting two bool tensors is not supported; use logical_xor");
  Tensor out = binary_arith(OpId::Sub, a, b);
  if (should_record({&a, &b})) {
    record("SubBackward0", {a, b}, {out}, [](FunctionNode& n, const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0], n.needs_input_grad(1) ? neg(g[0]) : Tensor()};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_arith(OpId::Mul, a, b);
  if (should_record({&a, &b})) {
    SavedTensor sa(a), sb(b);
    record("MulBackward0", {a, b}, {out}, [sa, sb](FunctionNode& n, const std::vector<Tensor>& g) {
      return std::vector<Tensor>{n.needs_input_grad(0) ? g[0] * sb.get(n) : Tensor(),
                                 n.needs_input_grad(1) ? g[0] * sa.get(n) : Tensor()};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_arith(OpId::Div, a, b, /*true_division=*/true);
  if (should_record({&a, &b})) {
    SavedTensor sa(a), sb(b);
    record("DivBackward0", {a, b}, {out}, [sa, sb](FunctionNode& n, const std::vector<Tensor>& g) {
      Tensor bv = sb.get(n);
      return std::vector<Tensor>{
          n.needs_input_grad(0) ? g[0] / bv : Tensor(),
          n.needs_input_grad(1) ? -(g[0] * sa.get(n)) / (bv * bv) : Tensor()};
    });
  }
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  check_defined("pow", {&a, &b});
  if (!is_floating(result_type({&a, &b}))) {
    Tensor negative = lt(b, wrapped_scalar(0, b.device()));
    KILN_CHECK_VALUE(!any_true(negative),
                     "pow: integers to negative integer powers are not allowed");
  }
  Tensor out = binary_arith(OpId::Pow, a, b);
  if (should_record({&a, &b})) {
    SavedTensor sa(a), sb(b);
    record("PowBackward1", {a, b}, {out},
           [sa, sb](FunctionNode& n, const std::vector<Tensor>& g) {
             Tensor av = sa.get(n), bv = sb.get(n);
             Tensor ga, gb;
             if (n.needs_input_grad(0))  // d/da a^b = b a^(b-1), taken as 0 where b == 0
               ga = mask_grad(ne(bv, wrapped_scalar(0)), g[0] * bv * pow(av, bv - 1));
             if (n.needs_input_grad(1)) {  // d/db a^b = a^b log a, taken as 0 where a == 0, b >= 0
               Tensor y = n.saved_output(0);
               Tensor safe = logical_and(eq(av, wrapped_scalar(0)), ge(bv, wrapped_scalar(0)));
               gb = mask_grad(logical_not(safe), g[0] * y * log(av));
             }
             return std::vector<Tensor>{ga, gb};
           },
           {0});
  }
  return out;
}

namespace {
// d min/max: the gradient goes to the selected input; ties share it equally, like PyTorch.
Tensor min_max(OpId op, const char* node, const Tensor& a, const Tensor& b) {
  Tensor out = binary_arith(op, a, b);
  if (should_record({&a, &b})) {
    SavedTensor sa(a), sb(b);
    const bool is_max = op == OpId::Maximum;
    record(node, {a, b}, {out}, [sa, sb, is_max](FunctionNode& n, const std::vector<Tensor>& g) {
      Tensor av = sa.get(n), bv = sb.get(n);
      Tensor tie = eq(av, bv);
      Tensor a_wins = is_max ? gt(av, bv) : lt(av, bv);
      Tensor b_wins = is_max ? lt(av, bv) : gt(av, bv);
      Tensor half = g[0] * 0.5;
      auto pick = [&](const Tensor& wins) { return where(wins, g[0], mask_grad(tie, half)); };
      return std::vector<Tensor>{n.needs_input_grad(0) ? pick(a_wins) : Tensor(),
                                 n.needs_input_grad(1) ? pick(b_wins) : Tensor()};
    });
  }
  return out;
}
}  // namespace

Tensor minimum(const Tensor& a, const Tensor& b) {
  return min_max(OpId::Minimum, "MinimumBackward0", a, b);
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return min_max(OpId::Maximum, "MaximumBackward0", a, b);
}

Tensor floor_divide(const Tensor& a, const Tensor& b) {
  check_defined("floor_divide", {&a, &b});
  check_nonzero_integer_divisor("floor_divide", a, b);
  return binary_arith(OpId::FloorDivide, a, b);  // piecewise constant: no gradient recorded
}

Tensor remainder(const Tensor& a, const Tensor& b) {
  check_defined("remainder", {&a, &b});
  check_nonzero_integer_divisor("remainder", a, b);
  Tensor out = binary_arith(OpId::Remainder, a, b);
  if (should_record({&a, &b})) {
    SavedTensor sa(a), sb(b);
    record("RemainderBackward0", {a, b}, {out},
           [sa, sb](FunctionNode& n, const std::vector<Tensor>& g) {
             return std::vector<Tensor>{g[0], n.needs_input_grad(1)
                                                  ? -(g[0] * floor_divide(sa.get(n), sb.get(n)))
                                                  : Tensor()};
           });
  }
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined("where", {&cond, &a, &b});
  KILN_CHECK_TYPE(cond.dtype() == DType::Bool, "where: expected a bool condition, got ",
                  describe(cond));
  check_same_device("where", {&cond, &a, &b});
  Shape shape =
      broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
  DType type = result_type({&a, &b});
  Device dev = cond.device();
  Tensor out =
      empty(shape, TensorOptions(type, dev), elementwise_memory_format(shape, {&cond, &a, &b}));
  auto prep = [&](const Tensor& t) {
    return broadcast_view(cast_raw(t.device() == dev ? t : t.to(dev), type), shape);
  };
  backend_for(OpId::Where, dev).where(broadcast_view(cond, shape), prep(a), prep(b), out);
  if (should_record({&a, &b})) {
    SavedTensor sc(cond);
    record("WhereBackward0", {a, b}, {out}, [sc](FunctionNode& n, const std::vector<Tensor>& g) {
      Tensor c = sc.get(n);
      return std::vector<Tensor>{
          n.needs_input_grad(0) ? mask_grad(c, g[0]) : Tensor(),
          n.needs_input_grad(1) ? mask_grad(logical_not(c), g[0]) : Tensor()};
    });
  }
  return out;
}

Tensor lerp(const Tensor& start, const Tensor& end, double weight) {
  return start + (end - start) * weight;
}

}  // namespace kiln
