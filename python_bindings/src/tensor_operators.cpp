// Python operators on kiln.Tensor: + - * / // % ** @, comparisons, unary -, abs, and & | ^ ~ on
// bool tensors (in-place forms such as += are in tensor_inplace.cpp). A number operand keeps its
// Python kind (kiln::Scalar), so promotion matches torch: int_tensor * 2 stays int64,
// int_tensor / 2 is float. An operand of another type gives NotImplemented (nb::is_operator),
// so Python can try the reflected method or raise its usual TypeError. The Tensor overload is
// registered first: `a + b` on two tensors is the first overload nanobind tries.
#include "op_binding.h"
#include "ops/op_common.h"

namespace kiln::python {

Tensor number_operand(Scalar s, const Tensor& like) { return wrapped_scalar(s, like.device()); }

Tensor number_pow(Scalar base, const Tensor& exponent) {
  // kiln::pow(Scalar, Tensor) computes in floating point; the tensor-tensor form promotes.
  if (!base.is_floating() && !is_floating(exponent.dtype())) {
    return pow(number_operand(base, exponent), exponent);
  }
  return pow(base, exponent);
}

Tensor bitwise_bool(const char* op, const Tensor& a, const Tensor& b) {
  KILN_CHECK_TYPE(a.dtype() == DType::Bool && b.dtype() == DType::Bool, op,
                  ": bitwise operators are supported on bool tensors only (got ",
                  dtype_name(a.dtype()), " and ", dtype_name(b.dtype()), ")");
  const char c = op[0];
  return c == '&' ? logical_and(a, b) : c == '|' ? logical_or(a, b) : ne(a, b);
}

namespace {

using Binary = Tensor (*)(const Tensor&, const Tensor&);

// `name` (tensor op tensor, tensor op number) and, with `rname`, number op tensor.
void def_binary(nb::class_<Tensor>& cls, const char* name, const char* rname, Binary fn) {
  cls.def(
      name, [fn](const Tensor& a, const Tensor& b) { return fn(a, b); }, nb::is_operator());
  cls.def(
      name, [fn](const Tensor& a, Scalar b) { return fn(a, number_operand(b, a)); },
      nb::is_operator());
  if (rname) {
    cls.def(
        rname, [fn](const Tensor& b, Scalar a) { return fn(number_operand(a, b), b); },
        nb::is_operator());
  }
}

}  // namespace

void bind_tensor_operators(nb::class_<Tensor>& cls) {
  def_binary(cls, "__add__", "__radd__",
             [](const Tensor& a, const Tensor& b) { return add(a, b); });
  def_binary(cls, "__sub__", "__rsub__",
             [](const Tensor& a, const Tensor& b) { return add_scaled(a, b, 1, true); });
  def_binary(cls, "__mul__", "__rmul__", &mul);
  def_binary(cls, "__truediv__", "__rtruediv__", &div);
  def_binary(cls, "__floordiv__", "__rfloordiv__", &floor_divide);
  def_binary(cls, "__mod__", "__rmod__", &remainder);
  def_binary(cls, "__eq__", nullptr, &eq);
  def_binary(cls, "__ne__", nullptr, &ne);
  def_binary(cls, "__lt__", nullptr, &lt);
  def_binary(cls, "__le__", nullptr, &le);
  def_binary(cls, "__gt__", nullptr, &gt);
  def_binary(cls, "__ge__", nullptr, &ge);
  def_binary(cls, "__and__", "__rand__",
             [](const Tensor& a, const Tensor& b) { return bitwise_bool("&", a, b); });
  def_binary(cls, "__or__", "__ror__",
             [](const Tensor& a, const Tensor& b) { return bitwise_bool("|", a, b); });
  def_binary(cls, "__xor__", "__rxor__",
             [](const Tensor& a, const Tensor& b) { return bitwise_bool("^", a, b); });

  // x ** 2 keeps the scalar exponent form (its own backward, no log of the base).
  cls.def(
      "__pow__", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, nb::is_operator());
  cls.def(
      "__pow__", [](const Tensor& a, Scalar e) { return pow(a, e); }, nb::is_operator());
  cls.def(
      "__rpow__", [](const Tensor& e, Scalar a) { return number_pow(a, e); }, nb::is_operator());
  cls.def(
      "__matmul__", [](const Tensor& a, const Tensor& b) { return matmul(a, b); },
      nb::is_operator());

  cls.def("__neg__", [](const Tensor& a) { return neg(a); });
  cls.def("__pos__", [](const Tensor& a) { return a; });
  cls.def("__abs__", [](const Tensor& a) { return abs(a); });
  cls.def("__invert__", [](const Tensor& a) {
    KILN_CHECK_TYPE(a.dtype() == DType::Bool,
                    "~: bitwise not is supported on bool tensors only (got ", dtype_name(a.dtype()),
                    ")");
    return logical_not(a);
  });
}

}  // namespace kiln::python
