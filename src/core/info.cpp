#include "kiln/info.h"

#include <cblas.h>
#include <omp.h>

#ifdef KILN_WITH_CUDA
#include "runtime/device.h"
#include "runtime/versions.h"
#endif

namespace kiln {

BuildInfo build_info() {
  BuildInfo info;
  info.version = KILN_VERSION;
  info.build_type = KILN_BUILD_TYPE;
  info.compiler = KILN_COMPILER;
  info.blas = openblas_get_config();
  info.threads = omp_get_max_threads();
  info.devices.push_back("cpu");
#ifdef KILN_WITH_CUDA
  info.cuda = true;
  info.cuda_architectures = KILN_CUDA_ARCHITECTURES;
  for (int d = 0; d < cuda::device_count(); ++d) info.devices.push_back(cuda::device_summary(d));
  cuda::LibraryVersions v = cuda::library_versions();
  info.cuda_runtime = v.runtime;
  info.cuda_driver = v.driver;
  info.cublas = v.cublas;
  info.cudnn = v.cudnn;
  info.nccl = v.nccl;
#endif
  return info;
}

}  // namespace kiln
