// Elementwise ops: unary math, arithmetic with alpha and rounding modes, comparisons, where,
// clamp and lerp, as functions (kiln.add) and methods (x.add). Activations are in
// ops_activation.cpp.
#include "op_binding.h"
#include "ops/op_common.h"

namespace kiln::python {

namespace {

using Unary = Tensor (*)(const Tensor&);
using Binary = Tensor (*)(const Tensor&, const Tensor&);

// torch differentiates rounded division as zero (not as an error, unlike floor_divide): the
// quotient gets a node that sends zeros to both operands.
Tensor with_zero_gradient(const Tensor& quotient, const Tensor& a, const Tensor& b) {
  if (!is_floating(quotient.dtype()) || !should_record({&a, &b})) return quotient;
  record("DivBackward1", {a, b}, {quotient}, [](FunctionNode&, const std::vector<Tensor>& g) {
    Tensor zero = zeros_like(g[0]);  // the engine sums it down to each operand's shape
    return std::vector<Tensor>{zero, zero};
  });
  return quotient;
}

// Division rounding toward zero. Floating: the quotient rounded toward zero (a zero gradient,
// like torch's). Integer: floor division, plus one where the division was inexact and the signs
// differ (exact, unlike going through floating point).
Tensor truncating_divide(const Tensor& a, const Tensor& b) {
  if (is_floating(result_type({&a, &b}))) {
    Tensor t = div(a, b);
    return where(lt(t, number_operand(0, t)), ceil(t), floor(t));
  }
  Tensor q = floor_divide(a, b);
  Tensor zero = number_operand(0, a);
  Tensor inexact = ne(remainder(a, b), zero);
  Tensor signs_differ = ne(lt(a, zero), lt(b, zero));
  return add(q, logical_and(inexact, signs_differ).to(q.dtype()));
}

// clamp with tensor bounds (either may be absent): torch's gradients, x where it is inside
// [min, max] and each bound where it is the result.
Tensor clamp_tensors(const Tensor& x, const std::optional<Tensor>& lo,
                     const std::optional<Tensor>& hi) {
  KILN_CHECK_VALUE(lo || hi, "clamp: at least one of 'min' or 'max' must not be None");
  Tensor out = x;
  if (lo) out = where(lt(out, *lo), *lo, out);
  if (hi) out = where(gt(out, *hi), *hi, out);
  return out;
}

void bind_unary(nb::module_& m, nb::class_<Tensor>& cls) {
  const std::pair<const char*, Unary> unary[] = {
      {"neg", &neg},
      {"negative", &neg},
      {"exp", &exp},
      {"log", &log},
      {"log1p", &log1p},
      {"expm1", &expm1},
      {"sqrt", &sqrt},
      {"rsqrt", &rsqrt},
      {"abs", &abs},
      {"absolute", &abs},
      {"sign", &sign},
      {"sin", &sin},
      {"cos", &cos},
      {"erf", &erf},
      {"reciprocal", &reciprocal},
      {"square", &square},
      {"floor", &floor},
      {"ceil", &ceil},
      {"round", &round},
      {"relu", &relu},
      {"sigmoid", &sigmoid},
      {"tanh", &tanh},
      {"logical_not", &logical_not},
      {"isnan", &isnan},
      {"isfinite", &isfinite},
  };
  for (const auto& [name, fn] : unary) {
    def_function_and_method(m, cls, name, [fn](const Tensor& x) { return fn(x); });
  }
}

// add/sub take alpha (other * alpha is added), tensor or number operands.
void bind_add_sub(nb::module_& m, nb::class_<Tensor>& cls) {
  for (const char* name : {"add", "sub", "subtract"}) {
    const bool subtract = name[0] == 's';
    auto apply = [subtract](const Tensor& a, const Tensor& b, Scalar alpha) {
      return add_scaled(a, b, alpha, subtract);
    };
    def_function_and_method(m, cls, name, apply, "other"_a, nb::kw_only(), "alpha"_a = 1);
    def_function_and_method(
        m, cls, name,
        [apply](const Tensor& a, Scalar b, Scalar alpha) {
          return apply(a, number_operand(b, a), alpha);
        },
        "other"_a, nb::kw_only(), "alpha"_a = 1);
  }
}

void bind_binary(nb::module_& m, nb::class_<Tensor>& cls) {
  const std::pair<const char*, Binary> binary[] = {
      {"mul", &mul},
      {"multiply", &mul},
      {"true_divide", &div},
      {"minimum", &minimum},
      {"maximum", &maximum},
      {"floor_divide", &floor_divide},
      {"remainder", &remainder},
      {"eq", &eq},
      {"ne", &ne},
      {"not_equal", &ne},
      {"lt", &lt},
      {"le", &le},
      {"gt", &gt},
      {"ge", &ge},
      {"less", &lt},
      {"less_equal", &le},
      {"greater", &gt},
      {"greater_equal", &ge},
      {"logical_and", &logical_and},
      {"logical_or", &logical_or},
  };
  for (const auto& [name, fn] : binary) {
    def_function_and_method(
        m, cls, name, [fn](const Tensor& a, const Tensor& b) { return fn(a, b); }, "other"_a);
    def_function_and_method(
        m, cls, name, [fn](const Tensor& a, Scalar b) { return fn(a, number_operand(b, a)); },
        "other"_a);
  }

  for (const char* name : {"div", "divide"}) {
    def_function_and_method(
        m, cls, name,
        [name](const Tensor& a, const Tensor& b, std::optional<std::string> mode) {
          return divide_with_mode(a, b, mode, name);
        },
        "other"_a, nb::kw_only(), nb::arg("rounding_mode").none() = nb::none());
    def_function_and_method(
        m, cls, name,
        [name](const Tensor& a, Scalar b, std::optional<std::string> mode) {
          return divide_with_mode(a, number_operand(b, a), mode, name);
        },
        "other"_a, nb::kw_only(), nb::arg("rounding_mode").none() = nb::none());
  }

  def_function_and_method(
      m, cls, "pow", [](const Tensor& a, const Tensor& e) { return pow(a, e); }, "exponent"_a);
  def_function_and_method(
      m, cls, "pow", [](const Tensor& a, Scalar e) { return pow(a, e); }, "exponent"_a);
  m.def("pow", &number_pow, "self"_a, "exponent"_a);
}

// where(condition, input, other): either value may be a number. where(condition) is in
// ops_index.cpp (it is nonzero).
void bind_where(nb::module_& m, nb::class_<Tensor>& cls) {
  m.def(
      "where", [](const Tensor& c, const Tensor& a, const Tensor& b) { return where(c, a, b); },
      "condition"_a, "input"_a, "other"_a);
  m.def(
      "where",
      [](const Tensor& c, const Tensor& a, Scalar b) { return where(c, a, number_operand(b, a)); },
      "condition"_a, "input"_a, "other"_a);
  m.def(
      "where",
      [](const Tensor& c, Scalar a, const Tensor& b) { return where(c, number_operand(a, b), b); },
      "condition"_a, "input"_a, "other"_a);
  m.def(
      "where",
      [](const Tensor& c, Scalar a, Scalar b) {
        return where(c, number_operand(a, c), number_operand(b, c));
      },
      "condition"_a, "input"_a, "other"_a);
  cls.def(
      "where", [](const Tensor& a, const Tensor& c, const Tensor& b) { return where(c, a, b); },
      "condition"_a, "other"_a);
  cls.def(
      "where",
      [](const Tensor& a, const Tensor& c, Scalar b) { return where(c, a, number_operand(b, a)); },
      "condition"_a, "other"_a);
}

void bind_clamp_lerp(nb::module_& m, nb::class_<Tensor>& cls) {
  for (const char* name : {"clamp", "clip"}) {
    def_function_and_method(m, cls, name, &clamp_numbers, nb::arg("min").none() = nb::none(),
                            nb::arg("max").none() = nb::none());
    def_function_and_method(m, cls, name, &clamp_tensors, nb::arg("min").none() = nb::none(),
                            nb::arg("max").none() = nb::none());
  }
  for (const char* name : {"clamp_min", "clamp_max"}) {
    const bool is_min = std::string(name) == "clamp_min";
    def_function_and_method(
        m, cls, name,
        [is_min](const Tensor& x, Scalar bound) {
          return is_min ? clamp_numbers(x, bound, std::nullopt)
                        : clamp_numbers(x, std::nullopt, bound);
        },
        is_min ? "min"_a : "max"_a);
  }
  def_function_and_method(
      m, cls, "lerp", [](const Tensor& a, const Tensor& b, double w) { return lerp(a, b, w); },
      "end"_a, "weight"_a);
  // A tensor weight: start + weight * (end - start), whose gradients are torch's.
  def_function_and_method(
      m, cls, "lerp",
      [](const Tensor& a, const Tensor& b, const Tensor& w) { return add(a, mul(w, sub(b, a))); },
      "end"_a, "weight"_a);
}

}  // namespace

// clamp with number bounds: the library's kernel for floating tensors; for integer and bool
// tensors the bounds promote like any number operand (int bounds keep int64, float bounds give
// float32), as torch's result_type does.
Tensor clamp_numbers(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  if (is_floating(x.dtype()) || (!lo && !hi)) {
    auto as_double = [](const std::optional<Scalar>& s) -> std::optional<double> {
      if (!s) return std::nullopt;
      return s->to_double();
    };
    return clamp(x, as_double(lo), as_double(hi));
  }
  auto bound = [&x](const std::optional<Scalar>& s) -> std::optional<Tensor> {
    if (!s) return std::nullopt;
    return number_operand(*s, x);
  };
  return clamp_tensors(x, bound(lo), bound(hi));
}

Tensor add_scaled(const Tensor& a, const Tensor& b, Scalar alpha, bool subtract) {
  const char* op = subtract ? "sub" : "add";
  check_defined(op, {&a, &b});
  KILN_CHECK_TYPE(!subtract || (a.dtype() != DType::Bool && b.dtype() != DType::Bool), op,
                  ": subtraction, the `-` operator, with a bool tensor is not supported (got ",
                  dtype_name(a.dtype()), " and ", dtype_name(b.dtype()),
                  "); to invert a mask use `~` or logical_not()");
  const bool unit = alpha.kind() == Scalar::Kind::Int && alpha.to_int() == 1;
  if (unit) return subtract ? sub(a, b) : add(a, b);
  const DType result = result_type({&a, &b});
  KILN_CHECK_TYPE(!alpha.is_floating() || is_floating(result), op,
                  ": for integral input tensors, argument alpha must not be a floating point "
                  "number (got alpha=",
                  alpha.to_double(), ")");
  KILN_CHECK_TYPE(alpha.kind() != Scalar::Kind::Bool || result == DType::Bool, op,
                  ": boolean alpha is only supported for boolean results");
  Tensor scaled = mul(b, number_operand(alpha, b));
  if (scaled.dtype() != result) scaled = scaled.to(result);
  return subtract ? sub(a, scaled) : add(a, scaled);
}

Tensor divide_with_mode(const Tensor& a, const Tensor& b, const std::optional<std::string>& mode,
                        const char* op) {
  if (!mode) return div(a, b);
  if (*mode == "floor") return with_zero_gradient(floor_divide(a, b), a, b);
  KILN_CHECK_VALUE(*mode == "trunc", op,
                   ": rounding_mode must be None, 'trunc' or 'floor', but found '", *mode, "'");
  return truncating_divide(a, b);
}

void bind_ops_math(nb::module_& m, nb::class_<Tensor>& cls) {
  bind_unary(m, cls);
  bind_add_sub(m, cls);
  bind_binary(m, cls);
  bind_where(m, cls);
  bind_clamp_lerp(m, cls);
  // torch.result_type(tensor1, tensor2): either may be a number.
  m.def(
      "result_type",
      [](const Tensor& a, const Tensor& b) {
        return result_type({&a, &b});
      },
      "tensor1"_a, "tensor2"_a);
  m.def(
      "result_type",
      [](const Tensor& a, Scalar b) {
        Tensor w = number_operand(b, a);
        return result_type({&a, &w});
      },
      "tensor1"_a, "tensor2"_a);
  m.def(
      "result_type",
      [](Scalar a, const Tensor& b) {
        Tensor w = number_operand(a, b);
        return result_type({&w, &b});
      },
      "tensor1"_a, "tensor2"_a);
  def_function_and_method(
      m, cls, "equal", [](const Tensor& a, const Tensor& b) { return equal(a, b); }, "other"_a);
  def_function_and_method(m, cls, "allclose", &allclose, "other"_a, "rtol"_a = 1e-5,
                          "atol"_a = 1e-8, "equal_nan"_a = false);
}

}  // namespace kiln::python
