// kiln info: what this build is and what it can use.
#include "kiln/info.h"

#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"

namespace kiln::cli {

int run_info(int, char**) {
  BuildInfo b = build_info();
  std::printf("kiln %s\n", b.version.c_str());
  std::printf("build:    %s, %s, CUDA backend %s%s%s\n", b.build_type.c_str(), b.compiler.c_str(),
              b.cuda ? "on" : "off", b.cuda ? " (sm_" : "",
              b.cuda ? (b.cuda_architectures + ")").c_str() : "");
  std::printf("blas:     %s\n", b.blas.c_str());
  std::printf("threads:  %d (OpenMP)\n", b.threads);
  std::printf("devices:\n");
  for (const std::string& d : b.devices) std::printf("  %s\n", d.c_str());
  std::printf("default device: %s (kiln train/bench --device)\n", default_device().c_str());
  if (b.cuda) {
    std::printf("driver:   CUDA %s\n", b.cuda_driver.c_str());
    std::printf("runtime:  CUDA %s\n", b.cuda_runtime.c_str());
    std::printf("cublas:   %s\n", b.cublas.c_str());
    std::printf("cudnn:    %s\n", b.cudnn.c_str());
    std::printf("nccl:     %s\n", b.nccl.c_str());
    if (b.devices.size() == 1) std::printf("(no CUDA device visible: GPU paths are unavailable)\n");
  }
  return 0;
}

}  // namespace kiln::cli
