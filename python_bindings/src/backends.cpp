// kiln.backends: the switches torch.backends has for the compute libraries. The state lives in
// C++ (kiln::cuda::set_allow_tf32, read by the cuBLASLt products), so C++ and Python see one
// switch; it exists in CPU-only builds too, where it has nothing to act on.
#include "bindings.h"
#include "kiln/cuda.h"
#include "kiln/info.h"

namespace kiln::python {

void bind_backends(nb::module_& m) {
  m.def("_set_allow_tf32", &kiln::cuda::set_allow_tf32, "allow"_a,
        "float32 matrix products may use TF32 tensor cores (kiln.backends.cuda.matmul.allow_tf32)");
  m.def("_get_allow_tf32", &kiln::cuda::allow_tf32);
  m.def("_cuda_is_built", []() { return build_info().cuda; });
}

}  // namespace kiln::python
