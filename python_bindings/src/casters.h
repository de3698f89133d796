#pragma once
// Conversions between Python objects and Kiln's small value types:
//   kiln::Scalar  <- bool / int / float exactly (and, when converting, NumPy scalars or anything
//                    with __index__ or __float__ except tensors); keeps the kind, which decides
//                    the result dtype as in PyTorch (x_int * 2 stays int, x_int * 2.0 is float).
//   kiln::DType   <- a kiln.dtype object, or Python's bool / int / float types (like torch).
// kiln.dtype objects are singletons, so `t.dtype is kiln.float32` holds as in PyTorch.
#include <nanobind/nanobind.h>

#include "kiln/dtype.h"
#include "kiln/scalar.h"

namespace kiln::python {

// The kiln.dtype singleton for `t` (a borrowed reference), and the reverse lookup.
PyObject* dtype_object(DType t);
bool dtype_from_object(PyObject* o, DType& out);
// Whether `o` is a kiln.Tensor (never read as a number, even though it has __float__).
bool is_tensor_object(PyObject* o);

}  // namespace kiln::python

namespace nanobind::detail {

template <>
struct type_caster<kiln::Scalar> {
  NB_TYPE_CASTER(kiln::Scalar, const_name("bool | int | float"))

  bool from_python(handle src, uint8_t flags, cleanup_list*) noexcept {
    PyObject* o = src.ptr();
    if (PyBool_Check(o)) {
      value = kiln::Scalar(o == Py_True);
      return true;
    }
    if (PyLong_Check(o)) {
      long long v = PyLong_AsLongLong(o);
      if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
      }
      value = kiln::Scalar(v);
      return true;
    }
    if (PyFloat_Check(o)) {
      value = kiln::Scalar(PyFloat_AS_DOUBLE(o));
      return true;
    }
    if (!(flags & uint8_t(cast_flags::convert)) || kiln::python::is_tensor_object(o)) return false;
    if (PyIndex_Check(o)) {  // NumPy integers
      PyObject* i = PyNumber_Index(o);
      if (!i) {
        PyErr_Clear();
        return false;
      }
      long long v = PyLong_AsLongLong(i);
      Py_DECREF(i);
      if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
      }
      value = kiln::Scalar(v);
      return true;
    }
    double d = PyFloat_AsDouble(o);  // NumPy floats and anything with __float__
    if (d == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      return false;
    }
    value = kiln::Scalar(d);
    return true;
  }

  static handle from_cpp(const kiln::Scalar& s, rv_policy, cleanup_list*) noexcept {
    switch (s.kind()) {
      case kiln::Scalar::Kind::Bool:
        return PyBool_FromLong(s.to_int() != 0);
      case kiln::Scalar::Kind::Int:
        return PyLong_FromLongLong(s.to_int());
      default:
        return PyFloat_FromDouble(s.to_double());
    }
  }
};

template <>
struct type_caster<kiln::DType> {
  NB_TYPE_CASTER(kiln::DType, const_name("kiln.dtype"))

  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    return kiln::python::dtype_from_object(src.ptr(), value);
  }
  static handle from_cpp(kiln::DType t, rv_policy, cleanup_list*) noexcept {
    PyObject* o = kiln::python::dtype_object(t);
    Py_XINCREF(o);
    return o;
  }
};

}  // namespace nanobind::detail
