#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include "runtime/versions.h"

namespace kiln::cuda {

namespace {
std::string cuda_version(int v) {
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}
}  // namespace

LibraryVersions library_versions() {
  LibraryVersions v;
  int rt = 0, drv = 0;
  v.runtime = cudaRuntimeGetVersion(&rt) == cudaSuccess ? cuda_version(rt) : "unknown";
  v.driver = cudaDriverGetVersion(&drv) == cudaSuccess && drv > 0 ? cuda_version(drv) : "none";
  v.cublas = std::to_string(CUBLAS_VER_MAJOR) + "." + std::to_string(CUBLAS_VER_MINOR) + "." +
             std::to_string(CUBLAS_VER_PATCH);
  size_t dnn = cudnnGetVersion();  // e.g. 91900 for 9.19.0
  v.cudnn = std::to_string(dnn / 10000) + "." + std::to_string(dnn % 10000 / 100) + "." +
            std::to_string(dnn % 100);
  int nccl = 0;
  if (ncclGetVersion(&nccl) == ncclSuccess) {
    v.nccl = std::to_string(nccl / 10000) + "." + std::to_string(nccl % 10000 / 100) + "." +
             std::to_string(nccl % 100);
  } else {
    v.nccl = "unknown";
  }
  return v;
}

}  // namespace kiln::cuda
