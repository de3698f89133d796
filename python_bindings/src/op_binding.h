#pragma once
// Helpers for binding an op once as a function (kiln.exp(input)) and as a method (x.exp()),
// with torch's argument names. The function form names its first argument `input`.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <utility>

#include "bindings.h"

namespace kiln::python {

template <class Fn, class... Extra>
void def_function_and_method(nb::module_& m, nb::class_<Tensor>& cls, const char* name, Fn fn,
                             const Extra&... extra) {
  m.def(name, fn, "input"_a, extra...);
  cls.def(name, fn, extra...);
}

// In-place methods return the Python object they were called on (`x.add_(1) is x`, as in torch),
// not a new wrapper of the same tensor. returning_self(f) turns `void f(Tensor& self, args...)`
// into a method that calls f on self's tensor and returns self.
namespace detail_self {
template <class F, class R, class... Args>
auto wrap(F f, R (F::*)(Tensor&, Args...) const) {
  return [f](nb::handle self, Args... args) {
    f(nb::cast<Tensor&>(self), std::forward<Args>(args)...);
    return nb::borrow(self);
  };
}
}  // namespace detail_self

template <class F>
auto returning_self(F f) {
  return detail_self::wrap(f, &F::operator());
}

// Raises NotImplementedError: what torch does here and Kiln does not (the message says what).
[[noreturn]] inline void raise_not_implemented(const std::string& message) {
  PyErr_SetString(PyExc_NotImplementedError, message.c_str());
  throw nb::python_error();
}

// A tuple of tensors (split, chunk, unbind, nonzero(as_tuple=True) return tuples, like torch).
inline nb::tuple tuple_of(const std::vector<Tensor>& ts) {
  nb::list out;
  for (const Tensor& t : ts) out.append(t);
  return nb::tuple(out);
}

// A `device` argument as torch reads it: None, a kiln.device, a string ("cpu", "cuda:1") or a
// CUDA index; a bad string raises the device parser's ValueError (dtype_device.cpp).
std::optional<Device> device_arg(nb::handle device, const char* op);

// A `dim` argument: None (all dims), an int, or a sequence of ints.
std::vector<int64_t> dims_arg(nb::handle dim, const char* op);

// A number operand as a 0-d tensor on `like`'s device that promotes like a Python number
// (int_tensor * 2 stays int64, float16_tensor * 2.5 stays float16), as torch does.
Tensor number_operand(Scalar s, const Tensor& like);
// torch.add / torch.sub with alpha: a + alpha * b (a - alpha * b), in the dtype a and b promote
// to (alpha takes no part, as in torch); refuses a float alpha for integer results and bool
// operands of a subtraction, like torch.
Tensor add_scaled(const Tensor& a, const Tensor& b, Scalar alpha, bool subtract);
// base ** exponent for a number base; an integer base and exponent stay integer, as in torch.
Tensor number_pow(Scalar base, const Tensor& exponent);
// a & b, a | b, a ^ b: logical ops on bool tensors (Kiln has no integer bitwise kernels).
Tensor bitwise_bool(const char* op, const Tensor& a, const Tensor& b);
// clamp with number bounds (either may be None), promoting like torch for integer tensors.
Tensor clamp_numbers(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi);
// torch.div's rounding_mode: None (true division), "floor" or "trunc"; `op` names the caller.
Tensor divide_with_mode(const Tensor& a, const Tensor& b, const std::optional<std::string>& mode,
                        const char* op);

void bind_ops_math(nb::module_& m, nb::class_<Tensor>& cls);
void bind_ops_activation(nb::module_& m);
void bind_ops_reduce(nb::module_& m, nb::class_<Tensor>& cls);
void bind_ops_shape(nb::module_& m, nb::class_<Tensor>& cls);
void bind_ops_index(nb::module_& m, nb::class_<Tensor>& cls);
void bind_tensor_inplace(nb::class_<Tensor>& cls);
void bind_index_put_function(nb::module_& m);  // tensor_indexing.cpp
void bind_factories(nb::module_& m);

}  // namespace kiln::python
