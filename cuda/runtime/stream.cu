#include <mutex>
#include <vector>

#include "common/check.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

struct Streams {
  std::vector<std::once_flag> once;
  std::vector<cudaStream_t> compute;
  explicit Streams(int n) : once(size_t(n)), compute(size_t(n), nullptr) {}
};

Streams& streams() {
  static Streams s(device_count());
  return s;
}

}  // namespace

cudaStream_t compute_stream(int device) {
  check_device(device, "compute_stream");
  Streams& s = streams();
  std::call_once(s.once[size_t(device)], [&] {
    DeviceGuard guard(device);
    KILN_CUDA_CHECK(cudaStreamCreate(&s.compute[size_t(device)]), "compute_stream");
  });
  return s.compute[size_t(device)];
}

void synchronize(int device) {
  KILN_CUDA_CHECK(cudaStreamSynchronize(compute_stream(device)), "synchronize");
}

}  // namespace kiln::cuda
