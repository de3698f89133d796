// C++ exceptions become Python exceptions carrying the C++ message: kiln::ValueError ->
// ValueError, kiln::TypeError -> TypeError, kiln::IndexError -> IndexError, other kiln::Error and
// std::exception -> RuntimeError, std::bad_cast (a failed conversion) -> TypeError,
// std::bad_alloc -> MemoryError. No C++ exception reaches the
// interpreter unconverted, so no Python call can abort the process.
#include <typeinfo>

#include "bindings.h"

namespace kiln::python {

void bind_errors(nb::module_&) {
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const kiln::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const kiln::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const kiln::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
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
