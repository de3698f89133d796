// In-place methods and operators (x.add_(y), x.abs_(), x += y, ...). Each computes the
// out-of-place op and writes the result into self through kiln::assign_inplace, which applies
// PyTorch's rules: the result must be castable to self's dtype, a leaf that requires grad is
// refused, and the write is recorded in the graph. All of them return self, like torch.
#include "op_binding.h"
#include "ops/op_common.h"

namespace kiln::python {

namespace {

using Unary = Tensor (*)(const Tensor&);
using Binary = Tensor (*)(const Tensor&, const Tensor&);

bool records_history(const Tensor& self, const Tensor& other) {
  return GradMode::is_enabled() &&
         (self.requires_grad() || (other.defined() && other.requires_grad()));
}

// Writes fn(self, other) into self. When history is recorded the op reads a clone of self (and
// of `other` if it shares self's memory): its backward may have saved those inputs, and the
// write must not change what it saved.
template <class Fn>
void write_result(Tensor& self, const Tensor& other, const char* op, Fn fn) {
  const bool rec = records_history(self, other);
  Tensor base = rec ? clone(self) : self;
  Tensor o = rec && other.defined() && other.shares_storage(self) ? clone(other) : other;
  assign_inplace(self, fn(base, o), op);
}

void def_unary(nb::class_<Tensor>& cls, const char* name, Unary fn) {
  cls.def(name, returning_self([fn, name](Tensor& self) {
            write_result(self, Tensor(), name,
                         [fn](const Tensor& a, const Tensor&) { return fn(a); });
          }));
}

// A binary in-place method taking a tensor or a number `other`.
template <class Fn, class... Extra>
void def_binary(nb::class_<Tensor>& cls, const char* name, const char* arg, Fn fn,
                const Extra&... extra) {
  cls.def(name, returning_self([fn, name](Tensor& self, const Tensor& other) {
            write_result(self, other, name, fn);
          }),
          nb::arg(arg), extra...);
  cls.def(name, returning_self([fn, name](Tensor& self, Scalar other) {
            write_result(self, number_operand(other, self), name, fn);
          }),
          nb::arg(arg), extra...);
}

// add_/sub_ with torch's keyword-only alpha.
void def_add_sub(nb::class_<Tensor>& cls, const char* name, bool subtract) {
  auto apply = [subtract](const Tensor& a, const Tensor& b, Scalar alpha) {
    return add_scaled(a, b, alpha, subtract);
  };
  cls.def(name, returning_self([apply, name](Tensor& self, const Tensor& other, Scalar alpha) {
            write_result(self, other, name,
                         [&](const Tensor& a, const Tensor& b) { return apply(a, b, alpha); });
          }),
          "other"_a, nb::kw_only(), "alpha"_a = 1);
  cls.def(name, returning_self([apply, name](Tensor& self, Scalar other, Scalar alpha) {
            write_result(self, number_operand(other, self), name,
                         [&](const Tensor& a, const Tensor& b) { return apply(a, b, alpha); });
          }),
          "other"_a, nb::kw_only(), "alpha"_a = 1);
}

void bind_arithmetic_inplace(nb::class_<Tensor>& cls) {
  def_add_sub(cls, "add_", false);
  def_add_sub(cls, "sub_", true);
  def_add_sub(cls, "subtract_", true);
  const std::pair<const char*, Binary> binary[] = {
      {"mul_", &mul},
      {"multiply_", &mul},
      {"true_divide_", &div},
      {"floor_divide_", &floor_divide},
      {"remainder_", &remainder},
      {"eq_", &eq},
      {"ne_", &ne},
      {"lt_", &lt},
      {"le_", &le},
      {"gt_", &gt},
      {"ge_", &ge},
      {"less_", &lt},
      {"greater_", &gt},
      {"less_equal_", &le},
      {"greater_equal_", &ge},
      {"not_equal_", &ne},
      {"logical_and_", &logical_and},
      {"logical_or_", &logical_or},
  };
  for (const auto& [name, fn] : binary) def_binary(cls, name, "other", fn);
  for (const char* name : {"div_", "divide_"}) {
    cls.def(
        name,
        returning_self([name](Tensor& self, const Tensor& other, std::optional<std::string> mode) {
          write_result(self, other, name, [&](const Tensor& a, const Tensor& b) {
            return divide_with_mode(a, b, mode, name);
          });
        }),
        "other"_a, nb::kw_only(), nb::arg("rounding_mode").none() = nb::none());
    cls.def(
        name, returning_self([name](Tensor& self, Scalar other, std::optional<std::string> mode) {
          write_result(
              self, number_operand(other, self), name,
              [&](const Tensor& a, const Tensor& b) { return divide_with_mode(a, b, mode, name); });
        }),
        "other"_a, nb::kw_only(), nb::arg("rounding_mode").none() = nb::none());
  }
  cls.def("pow_", returning_self([](Tensor& self, Scalar e) {
            write_result(self, Tensor(), "pow_",
                         [e](const Tensor& a, const Tensor&) { return pow(a, e); });
          }),
          "exponent"_a);
  cls.def("pow_", returning_self([](Tensor& self, const Tensor& e) {
            write_result(self, e, "pow_",
                         [](const Tensor& a, const Tensor& b) { return pow(a, b); });
          }),
          "exponent"_a);
  cls.def("lerp_", returning_self([](Tensor& self, const Tensor& end, double weight) {
            write_result(self, end, "lerp_",
                         [weight](const Tensor& a, const Tensor& b) { return lerp(a, b, weight); });
          }),
          "end"_a, "weight"_a);
  for (const char* name : {"clamp_", "clip_"}) {
    cls.def(
        name,
        returning_self([name](Tensor& self, std::optional<Scalar> lo, std::optional<Scalar> hi) {
          write_result(self, Tensor(), name,
                       [&](const Tensor& a, const Tensor&) { return clamp_numbers(a, lo, hi); });
        }),
        nb::arg("min").none() = nb::none(), nb::arg("max").none() = nb::none());
  }
  cls.def("clamp_min_", returning_self([](Tensor& self, Scalar lo) {
            write_result(self, Tensor(), "clamp_min_", [&](const Tensor& a, const Tensor&) {
              return clamp_numbers(a, lo, std::nullopt);
            });
          }),
          "min"_a);
  cls.def("clamp_max_", returning_self([](Tensor& self, Scalar hi) {
            write_result(self, Tensor(), "clamp_max_", [&](const Tensor& a, const Tensor&) {
              return clamp_numbers(a, std::nullopt, hi);
            });
          }),
          "max"_a);
}

void bind_index_inplace(nb::class_<Tensor>& cls) {
  cls.def("masked_fill_", returning_self([](Tensor& self, const Tensor& mask, Scalar v) {
            write_result(self, Tensor(), "masked_fill_",
                         [&](const Tensor& a, const Tensor&) { return masked_fill(a, mask, v); });
          }),
          "mask"_a, "value"_a);
  cls.def("masked_fill_", returning_self([](Tensor& self, const Tensor& mask, const Tensor& v) {
            write_result(self, v, "masked_fill_",
                         [&](const Tensor& a, const Tensor& b) { return masked_fill(a, mask, b); });
          }),
          "mask"_a, "value"_a);
  cls.def("index_add_",
          returning_self([](Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                            Scalar alpha) {
            write_result(self, source, "index_add_", [&](const Tensor& a, const Tensor& s) {
              return index_add(a, dim, index, s, alpha);
            });
          }),
          "dim"_a, "index"_a, "source"_a, nb::kw_only(), "alpha"_a = 1);
  cls.def("scatter_",
          returning_self([](Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
            write_result(self, src, "scatter_", [&](const Tensor& a, const Tensor& s) {
              return scatter(a, dim, index, s);
            });
          }),
          "dim"_a, "index"_a, "src"_a);
  cls.def(
      "scatter_", returning_self([](Tensor& self, int64_t dim, const Tensor& index, Scalar value) {
        write_result(self, Tensor(), "scatter_",
                     [&](const Tensor& a, const Tensor&) { return scatter(a, dim, index, value); });
      }),
      "dim"_a, "index"_a, "value"_a);
  cls.def("scatter_add_",
          returning_self([](Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
            write_result(self, src, "scatter_add_", [&](const Tensor& a, const Tensor& s) {
              return scatter_add(a, dim, index, s);
            });
          }),
          "dim"_a, "index"_a, "src"_a);
}

void bind_fill_and_copy(nb::class_<Tensor>& cls) {
  cls.def("zero_", returning_self([](Tensor& self) { self.zero_(); }));
  cls.def("fill_", returning_self([](Tensor& self, Scalar v) { self.fill_(v); }), "value"_a);
  cls.def("fill_", returning_self([](Tensor& self, const Tensor& v) {
            KILN_CHECK_VALUE(v.dim() == 0, "fill_: expected a 0-d value tensor, got shape ",
                             shape_str(v.shape()));
            write_result(self, v, "fill_", [](const Tensor& a, const Tensor& b) {
              return b.to(a.dtype()).expand(a.shape());
            });
          }),
          "value"_a);
  cls.def("copy_", returning_self([](Tensor& self, const Tensor& src, bool non_blocking) {
            (void)non_blocking;  // copies are synchronous (CPU) or stream-ordered (CUDA)
            // torch's copy_ converts any dtype (float into int truncates); Kiln's in-place
            // writes refuse lossy casts, so the conversion is done first, explicitly.
            self.copy_(src.dtype() == self.dtype() ? src : src.to(self.dtype()));
          }),
          "src"_a, "non_blocking"_a = false);
}

// x += y and friends: Python calls these first and falls back to x = x + y on NotImplemented.
void bind_inplace_operators(nb::class_<Tensor>& cls) {
  const std::pair<const char*, Binary> ops[] = {
      {"__iadd__", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"__isub__", [](const Tensor& a, const Tensor& b) { return add_scaled(a, b, 1, true); }},
      {"__imul__", &mul},
      {"__itruediv__", &div},
      {"__ifloordiv__", &floor_divide},
      {"__imod__", &remainder},
      {"__ipow__", [](const Tensor& a, const Tensor& b) { return pow(a, b); }},
      {"__iand__", [](const Tensor& a, const Tensor& b) { return bitwise_bool("&=", a, b); }},
      {"__ior__", [](const Tensor& a, const Tensor& b) { return bitwise_bool("|=", a, b); }},
      {"__ixor__", [](const Tensor& a, const Tensor& b) { return bitwise_bool("^=", a, b); }},
  };
  for (const auto& [name, fn] : ops) {
    cls.def(
        name,
        [fn, name](nb::handle self, const Tensor& other) {
          write_result(nb::cast<Tensor&>(self), other, name, fn);
          return nb::borrow(self);
        },
        nb::is_operator());
    cls.def(
        name,
        [fn, name](nb::handle self, Scalar other) {
          Tensor& s = nb::cast<Tensor&>(self);
          // x **= 2 keeps the scalar-exponent form, whose backward needs no log of the base.
          if (std::string(name) == "__ipow__") {
            write_result(s, Tensor(), name,
                         [other](const Tensor& a, const Tensor&) { return pow(a, other); });
          } else {
            write_result(s, number_operand(other, s), name, fn);
          }
          return nb::borrow(self);
        },
        nb::is_operator());
  }
}

}  // namespace

void bind_tensor_inplace(nb::class_<Tensor>& cls) {
  const std::pair<const char*, Unary> unary[] = {
      {"neg_", &neg},
      {"negative_", &neg},
      {"exp_", &exp},
      {"log_", &log},
      {"log1p_", &log1p},
      {"expm1_", &expm1},
      {"sqrt_", &sqrt},
      {"rsqrt_", &rsqrt},
      {"abs_", &abs},
      {"absolute_", &abs},
      {"sign_", &sign},
      {"sin_", &sin},
      {"cos_", &cos},
      {"erf_", &erf},
      {"reciprocal_", &reciprocal},
      {"square_", &square},
      {"floor_", &floor},
      {"ceil_", &ceil},
      {"round_", &round},
      {"relu_", &relu},
      {"sigmoid_", &sigmoid},
      {"tanh_", &tanh},
      {"logical_not_", &logical_not},
  };
  for (const auto& [name, fn] : unary) def_unary(cls, name, fn);
  bind_arithmetic_inplace(cls);
  bind_index_inplace(cls);
  bind_fill_and_copy(cls);
  bind_inplace_operators(cls);
}

}  // namespace kiln::python
