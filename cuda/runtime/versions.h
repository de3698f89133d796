#pragma once
// Versions of the CUDA libraries this build links, for `kiln info`. Plain C++.
#include <string>

namespace kiln::cuda {

struct LibraryVersions {
  std::string runtime;  // "13.0"
  std::string driver;   // "13.0", or "none" without a driver
  std::string cublas;
  std::string cudnn;  // "9.19.0"
  std::string nccl;   // "2.28.9"
};

LibraryVersions library_versions();

}  // namespace kiln::cuda
