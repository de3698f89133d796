// kiln.backends: the switches torch.backends has for the compute libraries. The state lives in
// C++ (kiln::cuda::set_allow_tf32, read by the cuBLASLt products; the cuDNN switches, read by the
// cuDNN convolution and batch norm), so C++ and Python see one switch; they exist in CPU-only
// builds too, where they have nothing to act on.
#include "bindings.h"
#include "kiln/cuda.h"
#include "kiln/info.h"

namespace kiln::python {

void bind_backends(nb::module_& m) {
  m.def("_set_allow_tf32", &kiln::cuda::set_allow_tf32, "allow"_a,
        "float32 matrix products may use TF32 tensor cores (kiln.backends.cuda.matmul.allow_tf32)");
  m.def("_get_allow_tf32", &kiln::cuda::allow_tf32);
  m.def("_cuda_is_built", []() { return build_info().cuda; });

  // kiln.backends.cudnn
  m.def("_cudnn_set_enabled", &kiln::cuda::set_cudnn_enabled, "enabled"_a);
  m.def("_cudnn_enabled", &kiln::cuda::cudnn_enabled);
  m.def("_cudnn_set_benchmark", &kiln::cuda::set_cudnn_benchmark, "benchmark"_a);
  m.def("_cudnn_benchmark", &kiln::cuda::cudnn_benchmark);
  m.def("_cudnn_set_deterministic", &kiln::cuda::set_cudnn_deterministic, "deterministic"_a);
  m.def("_cudnn_deterministic", &kiln::cuda::cudnn_deterministic);
  m.def("_cudnn_set_allow_tf32", &kiln::cuda::set_cudnn_allow_tf32, "allow"_a);
  m.def("_cudnn_allow_tf32", &kiln::cuda::cudnn_allow_tf32);
  m.def("_cudnn_is_available", &kiln::cuda::cudnn_is_available);
  m.def("_cudnn_version", []() -> nb::object {
    const int64_t v = kiln::cuda::cudnn_version();
    if (v < 0) return nb::none();
    return nb::int_(v);
  });
}

}  // namespace kiln::python
