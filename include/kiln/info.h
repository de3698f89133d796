#pragma once
// What this build of Kiln is and what it can use: for `kiln info` and bug reports.
#include <string>
#include <vector>

namespace kiln {

struct BuildInfo {
  std::string version;     // "0.1.0"
  std::string build_type;  // "Release"
  std::string compiler;    // "GNU 12.2.0"
  bool cuda = false;       // CUDA backend compiled in
  std::string cuda_architectures;
  std::string blas;                                            // OpenBLAS configuration string
  int threads = 1;                                             // OpenMP threads for CPU kernels
  std::vector<std::string> devices;                            // "cpu", "cuda:0 NVIDIA H200 (...)"
  std::string cuda_runtime, cuda_driver, cublas, cudnn, nccl;  // empty without CUDA
};

BuildInfo build_info();

}  // namespace kiln
