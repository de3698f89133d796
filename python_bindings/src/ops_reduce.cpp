// Reductions and softmax with torch's signatures: dim may be None, an int or a sequence;
// max/min along a dim return a (values, indices) named tuple like torch.return_types.max.
#include <cmath>

#include "op_binding.h"
#include "shape_args.h"

namespace kiln::python {

namespace {

// torch.return_types.max/min: a named tuple with .values and .indices (owned, never freed).
PyObject* g_max_type = nullptr;
PyObject* g_min_type = nullptr;

nb::object values_indices(PyObject* type, const std::pair<Tensor, Tensor>& r) {
  return nb::borrow(type)(r.first, r.second);
}

double norm_order(nb::handle p) {
  if (p.is_none()) return 2;
  if (nb::isinstance<nb::str>(p)) {
    std::string s = nb::cast<std::string>(p);
    KILN_CHECK_VALUE(s == "fro", "norm: p must be a number or 'fro' (got '", s, "')");
    return 2;
  }
  KILN_CHECK_TYPE(!is_tensor_object(p.ptr()) && (PyFloat_Check(p.ptr()) || PyIndex_Check(p.ptr())),
                  "norm: p must be a number or 'fro', got ", python_type_name(p));
  return PyFloat_AsDouble(p.ptr());
}

std::optional<DType> dtype_arg(nb::handle d, const char* op) {
  if (d.is_none()) return std::nullopt;
  DType out;
  KILN_CHECK_TYPE(dtype_from_object(d.ptr(), out), op, ": dtype must be a kiln.dtype, got ",
                  python_type_name(d));
  return out;
}

}  // namespace

std::vector<int64_t> dims_arg(nb::handle dim, const char* op) {
  if (dim.is_none()) return {};
  return int_list_from_object(dim, op);
}

void bind_ops_reduce(nb::module_& m, nb::class_<Tensor>& cls) {
  nb::object namedtuple = nb::module_::import_("collections").attr("namedtuple");
  g_max_type = namedtuple("max", nb::make_tuple("values", "indices")).release().ptr();
  g_min_type = namedtuple("min", nb::make_tuple("values", "indices")).release().ptr();

  const auto none = nb::none();
  def_function_and_method(
      m, cls, "sum",
      [](const Tensor& x, nb::handle dim, bool keepdim, nb::handle dtype) {
        return sum(x, dims_arg(dim, "sum"), keepdim, dtype_arg(dtype, "sum"));
      },
      nb::arg("dim").none() = none, "keepdim"_a = false, nb::kw_only(),
      nb::arg("dtype").none() = none);
  def_function_and_method(
      m, cls, "mean",
      [](const Tensor& x, nb::handle dim, bool keepdim, nb::handle dtype) {
        auto d = dtype_arg(dtype, "mean");
        return mean(d ? x.to(*d) : x, dims_arg(dim, "mean"), keepdim);
      },
      nb::arg("dim").none() = none, "keepdim"_a = false, nb::kw_only(),
      nb::arg("dtype").none() = none);
  def_function_and_method(
      m, cls, "prod",
      [](const Tensor& x, std::optional<int64_t> dim, bool keepdim, nb::handle dtype) {
        auto d = dtype_arg(dtype, "prod");
        return prod(d ? x.to(*d) : x, dim, keepdim);
      },
      nb::arg("dim").none() = none, "keepdim"_a = false, nb::kw_only(),
      nb::arg("dtype").none() = none);

  // var/std: torch 1.13 takes `unbiased` (positional) or the keyword `correction`.
  auto def_moment = [&](const char* name,
                        Tensor (*fn)(const Tensor&, const std::vector<int64_t>&, double, bool)) {
    def_function_and_method(
        m, cls, name,
        [fn, name](const Tensor& x, nb::handle dim, std::optional<bool> unbiased, bool keepdim,
                   std::optional<double> correction) {
          double c = correction ? *correction : (unbiased.value_or(true) ? 1.0 : 0.0);
          return fn(x, dims_arg(dim, name), c, keepdim);
        },
        nb::arg("dim").none() = none, nb::arg("unbiased").none() = none, "keepdim"_a = false,
        nb::kw_only(), nb::arg("correction").none() = none);
  };
  def_moment("var", &var);
  def_moment("std", &std);

  def_function_and_method(
      m, cls, "amax",
      [](const Tensor& x, nb::handle dim, bool keepdim) {
        return amax(x, dims_arg(dim, "amax"), keepdim);
      },
      nb::arg("dim").none() = nb::make_tuple(), "keepdim"_a = false);
  def_function_and_method(
      m, cls, "amin",
      [](const Tensor& x, nb::handle dim, bool keepdim) {
        return amin(x, dims_arg(dim, "amin"), keepdim);
      },
      nb::arg("dim").none() = nb::make_tuple(), "keepdim"_a = false);

  // max/min: over everything, along a dim (values and indices), or elementwise with `other`.
  def_function_and_method(m, cls, "max", [](const Tensor& x) { return max(x); });
  def_function_and_method(
      m, cls, "max",
      [](const Tensor& x, int64_t dim, bool keepdim) {
        return values_indices(g_max_type, max(x, dim, keepdim));
      },
      "dim"_a, "keepdim"_a = false);
  def_function_and_method(
      m, cls, "max", [](const Tensor& x, const Tensor& o) { return maximum(x, o); }, "other"_a);
  def_function_and_method(m, cls, "min", [](const Tensor& x) { return min(x); });
  def_function_and_method(
      m, cls, "min",
      [](const Tensor& x, int64_t dim, bool keepdim) {
        return values_indices(g_min_type, min(x, dim, keepdim));
      },
      "dim"_a, "keepdim"_a = false);
  def_function_and_method(
      m, cls, "min", [](const Tensor& x, const Tensor& o) { return minimum(x, o); }, "other"_a);

  def_function_and_method(m, cls, "argmax", &argmax, nb::arg("dim").none() = none,
                          "keepdim"_a = false);
  def_function_and_method(m, cls, "argmin", &argmin, nb::arg("dim").none() = none,
                          "keepdim"_a = false);
  def_function_and_method(
      m, cls, "logsumexp",
      [](const Tensor& x, nb::handle dim, bool keepdim) {
        return logsumexp(x, dims_arg(dim, "logsumexp"), keepdim);
      },
      "dim"_a, "keepdim"_a = false);
  def_function_and_method(
      m, cls, "norm",
      [](const Tensor& x, nb::handle p, nb::handle dim, bool keepdim, nb::handle dtype) {
        auto d = dtype_arg(dtype, "norm");
        return norm(d ? x.to(*d) : x, norm_order(p), dims_arg(dim, "norm"), keepdim);
      },
      nb::arg("p").none() = "fro", nb::arg("dim").none() = none, "keepdim"_a = false, nb::kw_only(),
      nb::arg("dtype").none() = none);

  // x.sum_to_size(*size): sums x down to a shape it was broadcast from (kiln.sum_to(input, size)).
  cls.def("sum_to_size", [](const Tensor& x, nb::args size) {
    return sum_to(x, int_list_from_args(size, "sum_to_size"));
  });
  m.def(
      "sum_to",
      [](const Tensor& x, nb::handle size) {
        return sum_to(x, int_list_from_object(size, "sum_to"));
      },
      "input"_a, "size"_a);

  // any/all: whether some/every element is non-zero (bool results; uint8 input gives uint8).
  for (const char* name : {"any", "all"}) {
    const bool every = std::string(name) == "all";
    def_function_and_method(
        m, cls, name,
        [every, name](const Tensor& x, nb::handle dim, bool keepdim) {
          Tensor zero = number_operand(0, x);
          Tensor hits = every ? eq(x, zero) : ne(x, zero);
          Tensor count = sum(hits, dims_arg(dim, name), keepdim);
          Tensor out = every ? eq(count, zero) : ne(count, zero);
          return x.dtype() == DType::UInt8 ? out.to(DType::UInt8) : out;
        },
        nb::arg("dim").none() = none, "keepdim"_a = false);
  }

  for (const char* name : {"softmax", "log_softmax"}) {
    const bool log = std::string(name) == "log_softmax";
    def_function_and_method(
        m, cls, name,
        [log](const Tensor& x, int64_t dim, nb::handle dtype) {
          auto d = dtype_arg(dtype, log ? "log_softmax" : "softmax");
          const Tensor& in = d ? x.to(*d) : x;
          return log ? log_softmax(in, dim) : softmax(in, dim);
        },
        "dim"_a, nb::kw_only(), nb::arg("dtype").none() = none);
  }
}

}  // namespace kiln::python
