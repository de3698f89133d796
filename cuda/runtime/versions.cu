#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <library_types.h>
#include <nccl.h>

#include "runtime/versions.h"

namespace kiln::cuda {

namespace {
std::string cuda_version(int v) {
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

// The cuBLAS actually loaded (the header's version may differ from the library found at run
// time); the header's when the query fails.
std::string cublas_version() {
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(MINOR_VERSION, &minor) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(PATCH_LEVEL, &patch) != CUBLAS_STATUS_SUCCESS) {
    major = CUBLAS_VER_MAJOR;
    minor = CUBLAS_VER_MINOR;
    patch = CUBLAS_VER_PATCH;
  }
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}
}  // namespace

LibraryVersions library_versions() {
  LibraryVersions v;
  int rt = 0, drv = 0;
  v.runtime = cudaRuntimeGetVersion(&rt) == cudaSuccess ? cuda_version(rt) : "unknown";
  v.driver = cudaDriverGetVersion(&drv) == cudaSuccess && drv > 0 ? cuda_version(drv) : "none";
  (void)cudaGetLastError();
  v.cublas = cublas_version();
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
