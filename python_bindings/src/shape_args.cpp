// Size arguments given as varargs or as one sequence (see shape_args.h).
#include "shape_args.h"

#include "bindings.h"

namespace kiln::python {

namespace {

int64_t as_int(nb::handle h, const char* what) {
  if (!PyIndex_Check(h.ptr()) || PyBool_Check(h.ptr()) || is_tensor_object(h.ptr())) {
    if (is_tensor_object(h.ptr())) {
      const Tensor& t = nb::cast<const Tensor&>(h);
      if (t.numel() == 1 && is_integral(t.dtype())) return int64_t(t.item());
    }
    throw kiln::TypeError(detail::concat(what, ": expected ints, got ", python_type_name(h)));
  }
  nb::object index = nb::steal(PyNumber_Index(h.ptr()));
  if (!index.is_valid()) throw nb::python_error();
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  KILN_CHECK_VALUE(overflow == 0, what, ": ", nb::str(h).c_str(), " does not fit in 64 bits");
  return v;
}

}  // namespace

std::vector<int64_t> int_list_from_object(nb::handle obj, const char* what) {
  if (PyTuple_Check(obj.ptr()) || PyList_Check(obj.ptr())) {
    std::vector<int64_t> out;
    for (nb::handle item : obj) out.push_back(as_int(item, what));
    return out;
  }
  return {as_int(obj, what)};
}

std::vector<int64_t> int_list_from_args(const nb::args& args, const char* what) {
  if (args.size() == 1) return int_list_from_object(args[0], what);
  std::vector<int64_t> out;
  out.reserve(args.size());
  for (nb::handle item : args) out.push_back(as_int(item, what));
  return out;
}

}  // namespace kiln::python
