// The kiln._C extension module: calls each binding file in dependency order.
#include "op_binding.h"

NB_MODULE(_C, m) {
  m.doc() = "Kiln's C++ core; use it through the `kiln` package.";
  // The dtype singletons and the kiln.Size / named-tuple types are held for the interpreter's
  // lifetime on purpose (module state released at exit would run after finalisation), which
  // nanobind's exit-time leak report would list as leaks.
  nb::set_leak_warnings(false);
  kiln::python::bind_errors(m);
  kiln::python::bind_dtype_device(m);
  kiln::python::bind_tensor(m);
  kiln::python::bind_factories(m);
  kiln::python::bind_numpy(m);
  kiln::python::bind_autograd(m);
  kiln::python::bind_autograd_function(m);
  kiln::python::bind_nn(m);
  kiln::python::bind_optim(m);
  kiln::python::bind_io(m);
  kiln::python::bind_conv(m);
  kiln::python::bind_pool(m);
  kiln::python::bind_norm(m);
  kiln::python::bind_resample(m);
  kiln::python::bind_datasets(m);
  kiln::python::bind_models(m);
  kiln::python::bind_distributed(m);
  kiln::python::bind_backends(m);
  kiln::python::bind_cuda(m);  // after bind_errors: its OutOfMemoryError translator goes first
}
