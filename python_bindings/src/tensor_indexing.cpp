// x[key] and x[key] = value: the Python key (an int, slice, None, Ellipsis, bool mask, integer
// tensor, list or NumPy array, or a tuple of these) becomes kiln::TensorIndex entries for
// kiln::index / kiln::index_put_ (include/kiln/indexing.h), which implement torch's semantics.
#include "kiln/indexing.h"
#include "op_binding.h"

namespace kiln::python {

namespace {

// An integer index or slice bound: a Python int or anything with __index__ (NumPy integers,
// one-element integer tensors), as Python's own sequences accept.
int64_t index_int(nb::handle h, const char* what) {
  PyObject* i = PyNumber_Index(h.ptr());
  if (!i) {
    PyErr_Clear();
    throw kiln::TypeError(
        detail::concat("index: ", what, " must be integers or None, got ", python_type_name(h)));
  }
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(i, &overflow);
  Py_DECREF(i);
  KILN_CHECK_INDEX(overflow == 0, "index: ", what, " ", nb::str(h).c_str(),
                   " does not fit in 64 bits");
  return v;
}

std::optional<int64_t> slice_bound(PyObject* o) {
  if (o == Py_None) return std::nullopt;
  return index_int(o, "slice bounds");
}

TensorIndex one_index(nb::handle item) {
  PyObject* o = item.ptr();
  if (is_tensor_object(o)) return nb::cast<Tensor>(item);
  if (PyBool_Check(o)) {  // x[True]: a 0-d mask
    return full({}, Scalar(o == Py_True), DType::Bool);
  }
  if (PyLong_Check(o)) return index_int(item, "integer indices");
  if (PySlice_Check(o)) {
    auto* s = reinterpret_cast<PySliceObject*>(o);
    Slice out{slice_bound(s->start), slice_bound(s->stop), 1};
    if (s->step != Py_None) out.step = index_int(s->step, "slice steps");
    return out;
  }
  if (o == Py_None) return NewAxis{};
  if (o == Py_Ellipsis) return EllipsisIndex{};
  if (PyList_Check(o) || PyTuple_Check(o) || nb::hasattr(item, "__array_interface__")) {
    return array_to_tensor(item, "index");  // [0, 2] or a NumPy array: an index tensor (copy)
  }
  if (PyIndex_Check(o)) return index_int(item, "integer indices");  // NumPy integers
  // torch reads a str as a sequence of characters and fails with a TypeError; other objects are
  // IndexErrors, as in NumPy.
  std::string message = detail::concat(
      "index: only integers, slices, None, Ellipsis, bool and integer tensors (or lists and "
      "arrays of them) are valid indices, got ",
      python_type_name(item));
  if (PyUnicode_Check(o) || PyBytes_Check(o)) throw kiln::TypeError(message);
  throw kiln::IndexError(message);
}

// torch reads a short list that holds tensors, sequences, slices, None or Ellipsis as a tuple of
// indices (x[[[0, 1], [2, 3]]] is x[[0, 1], [2, 3]]), and any other list as one index tensor.
bool list_is_tuple_of_indices(PyObject* list) {
  const Py_ssize_t n = PyList_GET_SIZE(list);
  if (n >= 32) return false;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PyList_GET_ITEM(list, i);
    if (is_tensor_object(item) || PyList_Check(item) || PyTuple_Check(item) ||
        PySlice_Check(item) || item == Py_None || item == Py_Ellipsis) {
      return true;
    }
  }
  return false;
}

std::vector<TensorIndex> parse_key(nb::handle key) {
  std::vector<TensorIndex> out;
  PyObject* k = key.ptr();
  if (PyTuple_Check(k) || (PyList_Check(k) && list_is_tuple_of_indices(k))) {
    out.reserve(size_t(PySequence_Size(k)));
    for (nb::handle item : key) out.push_back(one_index(item));
  } else {
    out.push_back(one_index(key));
  }
  return out;
}

}  // namespace

void bind_index_put_function(nb::module_& m) {
  m.def(
      "index_put",
      [](const Tensor& x, nb::handle indices, const Tensor& values, bool accumulate) {
        return index_put(x, parse_key(nb::tuple(indices)), values, accumulate);
      },
      "input"_a, "indices"_a, "values"_a, "accumulate"_a = false);
}

void bind_tensor_indexing(nb::class_<Tensor>& cls) {
  cls.def(
      "__getitem__", [](const Tensor& x, nb::handle key) { return index(x, parse_key(key)); },
      nb::arg("key").none());
  cls.def(
      "__setitem__",
      [](Tensor& x, nb::handle key, const Tensor& value) { index_put_(x, parse_key(key), value); },
      nb::arg("key").none(), "value"_a);
  cls.def(
      "__setitem__",
      [](Tensor& x, nb::handle key, Scalar value) { index_put_(x, parse_key(key), value); },
      nb::arg("key").none(), "value"_a);
  // x[key] = [1, 2] or a NumPy array: the values as a tensor, like torch.
  cls.def(
      "__setitem__",
      [](Tensor& x, nb::handle key, nb::handle value) {
        index_put_(x, parse_key(key), array_to_tensor(value, "setitem"));
      },
      nb::arg("key").none(), "value"_a);
  cls.def(
      "index_put_",
      [](nb::handle self, nb::handle indices, const Tensor& values, bool accumulate) {
        index_put_(nb::cast<Tensor&>(self), parse_key(nb::tuple(indices)), values, accumulate);
        return nb::borrow(self);
      },
      "indices"_a, "values"_a, "accumulate"_a = false);
  cls.def(
      "index_put",
      [](const Tensor& x, nb::handle indices, const Tensor& values, bool accumulate) {
        return index_put(x, parse_key(nb::tuple(indices)), values, accumulate);
      },
      "indices"_a, "values"_a, "accumulate"_a = false);
}

}  // namespace kiln::python
