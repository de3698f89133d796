// C++ exceptions become Python exceptions carrying the C++ message:
//   kiln::ValueError -> kiln.ValueError (a ValueError and a RuntimeError),
//   kiln::TypeError  -> kiln.TypeError (a TypeError and a RuntimeError),
//   kiln::IndexError -> IndexError, std::bad_cast (a failed conversion) -> TypeError,
//   std::bad_alloc -> MemoryError, any other kiln::Error or std::exception -> RuntimeError.
// No C++ exception reaches the interpreter unconverted, so no Python call can abort the process.
#include <typeinfo>

#include "bindings.h"

namespace kiln::python {

namespace {

// kiln.ValueError / kiln.TypeError: subclasses of both the builtin and RuntimeError. Python code
// catches them as ValueError / TypeError; code ported from torch, where the same mistakes raise
// RuntimeError, still catches them with `except RuntimeError`. (Owned for the interpreter's
// lifetime; never released.)
PyObject* g_value_error = nullptr;
PyObject* g_type_error = nullptr;

PyObject* dual_exception(nb::module_& m, const char* name, PyObject* builtin) {
  std::string qualified = std::string("kiln.") + name;
  PyObject* bases = PyTuple_Pack(2, builtin, PyExc_RuntimeError);
  PyObject* type = PyErr_NewException(qualified.c_str(), bases, nullptr);
  Py_DECREF(bases);
  if (!type) throw nb::python_error();
  m.attr(name) = nb::handle(type);
  return type;
}

}  // namespace

void bind_errors(nb::module_& m) {
  g_value_error = dual_exception(m, "ValueError", PyExc_ValueError);
  g_type_error = dual_exception(m, "TypeError", PyExc_TypeError);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const kiln::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const kiln::ValueError& e) {
      PyErr_SetString(g_value_error, e.what());
    } catch (const kiln::TypeError& e) {
      PyErr_SetString(g_type_error, e.what());
    } catch (const std::bad_cast&) {  // nanobind's cast_error: a value of the wrong Python type
      PyErr_SetString(PyExc_TypeError, "kiln: a value could not be converted to the expected type");
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "kiln: out of memory");
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
}

}  // namespace kiln::python
