// Unary math ops: kernel call plus a backward formula in Kiln ops.
#include <cmath>

#include "ops/unary_op.h"

namespace kiln {

Tensor unary_op(const UnarySpec& spec, const Tensor& x, UnaryDeriv deriv) {
  const char* name = op_name(spec.op);
  check_defined(name, {&x});
  DType compute = spec.floating ? floating_compute_type(x.dtype()) : x.dtype();
  KILN_CHECK_TYPE(compute != DType::Bool, name, ": not implemented for bool tensors (", describe(x),
                  ")");
  Tensor y = unary_raw(spec.op, x, compute, compute, spec.params);
  if (deriv && should_record({&x})) {
    SavedTensor sx = spec.save & kSaveInput ? SavedTensor(x) : SavedTensor();
    bool save_out = spec.save & kSaveOutput;
    record(
        spec.node, {x}, {y},
        [sx, save_out, deriv](FunctionNode& n, const std::vector<Tensor>& g) {
          Tensor xi = sx.get(n);
          Tensor yo = save_out ? n.saved_output(0) : Tensor();
          return std::vector<Tensor>{deriv(xi, yo, g[0])};
        },
        save_out ? std::initializer_list<int>{0} : std::initializer_list<int>{});
  }
  return y;
}

Tensor mask_grad(const Tensor& keep, const Tensor& g) {
  return where(keep, g, zeros({}, TensorOptions(g.dtype(), g.device())));
}

namespace {
constexpr double kTwoOverSqrtPi = 1.1283791670955126;
}

Tensor neg(const Tensor& x) {
  return unary_op({OpId::Neg, "NegBackward0", kSaveNothing, false}, x,
                  [](const Tensor&, const Tensor&, const Tensor& g) { return neg(g); });
}
Tensor exp(const Tensor& x) {
  return unary_op({OpId::Exp, "ExpBackward0", kSaveOutput}, x,
                  [](const Tensor&, const Tensor& y, const Tensor& g) { return g * y; });
}
Tensor log(const Tensor& x) {
  return unary_op({OpId::Log, "LogBackward0", kSaveInput}, x,
                  [](const Tensor& x, const Tensor&, const Tensor& g) { return g / x; });
}
Tensor log1p(const Tensor& x) {
  return unary_op({OpId::Log1p, "Log1PBackward0", kSaveInput}, x,
                  [](const Tensor& x, const Tensor&, const Tensor& g) { return g / (x + 1); });
}
Tensor expm1(const Tensor& x) {
  return unary_op({OpId::Expm1, "Expm1Backward0", kSaveOutput}, x,
                  [](const Tensor&, const Tensor& y, const Tensor& g) { return g * (y + 1); });
}
Tensor sqrt(const Tensor& x) {
  return unary_op({OpId::Sqrt, "SqrtBackward0", kSaveOutput}, x,
                  [](const Tensor&, const Tensor& y, const Tensor& g) { return g / (y * 2); });
}
Tensor rsqrt(const Tensor& x) {
  return unary_op(
      {OpId::Rsqrt, "RsqrtBackward0", kSaveOutput}, x,
      [](const Tensor&, const Tensor& y, const Tensor& g) { return g * y * y * y * -0.5; });
}
Tensor abs(const Tensor& x) {
  return unary_op({OpId::Abs, "AbsBackward0", kSaveInput, false}, x,
                  [](const Tensor& x, const Tensor&, const Tensor& g) { return g * sign(x); });
}
Tensor sign(const Tensor& x) {
  return unary_op({OpId::Sign, "SignBackward0", kSaveNothing, false}, x,
                  [](const Tensor&, const Tensor&, const Tensor& g) { return zeros_like(g); });
}
Tensor sin(const Tensor& x) {
  return unary_op({OpId::Sin, "SinBackward0", kSaveInput}, x,
                  [](const Tensor& x, const Tensor&, const Tensor& g) { return g * cos(x); });
}
Tensor cos(const Tensor& x) {
  return unary_op({OpId::Cos, "CosBackward0", kSaveInput}, x,
                  [](const Tensor& x, const Tensor&, const Tensor& g) { return -(g * sin(x)); });
}
Tensor erf(const Tensor& x) {
  return unary_op({OpId::Erf, "ErfBackward0", kSaveInput}, x,
                  [](const Tensor& x, const Tensor&, const Tensor& g) {
                    return g * exp(-(x * x)) * kTwoOverSqrtPi;
                  });
}
Tensor reciprocal(const Tensor& x) {
  return unary_op({OpId::Reciprocal, "ReciprocalBackward0", kSaveOutput}, x,
                  [](const Tensor&, const Tensor& y, const Tensor& g) { return -(g * y * y); });
}
Tensor square(const Tensor& x) {
  return unary_op({OpId::Square, "PowBackward0", kSaveInput, false}, x,
                  [](const Tensor& x, const Tensor&, const Tensor& g) { return g * x * 2; });
}
namespace {
Tensor zero_grad_of(const Tensor&, const Tensor&, const Tensor& g) { return zeros_like(g); }
}  // namespace
Tensor floor(const Tensor& x) {
  return unary_op({OpId::Floor, "FloorBackward0", kSaveNothing, false}, x, zero_grad_of);
}
Tensor ceil(const Tensor& x) {
  return unary_op({OpId::Ceil, "CeilBackward0", kSaveNothing, false}, x, zero_grad_of);
}
Tensor round(const Tensor& x) {
  return unary_op({OpId::Round, "RoundBackward0", kSaveNothing, false}, x, zero_grad_of);
}

Tensor pow(const Tensor& x, Scalar e) {
  check_defined("pow", {&x});
  if (!is_floating(x.dtype()) && !e.is_floating()) {  // integer power stays integer
    KILN_CHECK_VALUE(e.to_int() >= 0, "pow: integers to negative integer powers are not allowed");
    return pow(x, wrapped_scalar(e, x.device()));
  }
  const double ev = e.to_double();
  OpParams p;
  p.a = ev;
  return unary_op({OpId::PowScalar, "PowBackward0", kSaveInput, true, p}, x,
                  [ev](const Tensor& x, const Tensor&, const Tensor& g) {
                    if (ev == 0.0) return zeros_like(g);
                    return g * pow(x, ev - 1) * ev;
                  });
}

Tensor pow(Scalar base, const Tensor& x) {
  const double b = base.to_double();
  OpParams p;
  p.a = b;
  return unary_op(
      {OpId::RPowScalar, "PowBackward1", kSaveOutput, true, p}, x,
      [b](const Tensor&, const Tensor& y, const Tensor& g) { return g * y * std::log(b); });
}

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  KILN_CHECK_VALUE(lo || hi, "clamp: at least one of min and max must be given");
  OpParams p;
  p.has_a = lo.has_value();
  p.has_b = hi.has_value();
  p.a = lo.value_or(0);
  p.b = hi.value_or(0);
  return unary_op({OpId::Clamp, "ClampBackward1", kSaveInput, false, p}, x,
                  [lo, hi](const Tensor& x, const Tensor&, const Tensor& g) {
                    Tensor keep = ones_like(x).to(DType::Bool);
                    if (lo) keep = logical_and(keep, x >= *lo);
                    if (hi) keep = logical_and(keep, x <= *hi);
                    return mask_grad(keep, g);
                  });
}

Tensor logical_not(const Tensor& x) {
  check_defined("logical_not", {&x});
  return unary_raw(OpId::LogicalNot, x, x.dtype(), DType::Bool);
}
Tensor isnan(const Tensor& x) {
  check_defined("isnan", {&x});
  return unary_raw(OpId::IsNan, x, x.dtype(), DType::Bool);
}
Tensor isfinite(const Tensor& x) {
  check_defined("isfinite", {&x});
  return unary_raw(OpId::IsFinite, x, x.dtype(), DType::Bool);
}

}  // namespace kiln
