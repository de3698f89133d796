#include <memory>
#include <mutex>
#include <vector>

#include "common/check.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

struct Streams {
  std::vector<std::once_flag> compute_once, communication_once;
  std::vector<cudaStream_t> compute, communication;
  explicit Streams(int n)
      : compute_once(size_t(n)),
        communication_once(size_t(n)),
        compute(size_t(n), nullptr),
        communication(size_t(n), nullptr) {}
};

// Never destroyed: raw_free asks for the compute stream from destructors of tensors that may
// outlive static destruction.
Streams& streams() {
  static Streams& s = *std::make_unique<Streams>(device_count()).release();
  return s;
}

}  // namespace

cudaStream_t compute_stream(int device) {
  check_device(device, "compute_stream");
  Streams& s = streams();
  std::call_once(s.compute_once[size_t(device)], [&] {
    DeviceGuard guard(device);
    KILN_CUDA_CHECK(cudaStreamCreate(&s.compute[size_t(device)]), "compute_stream");
  });
  return s.compute[size_t(device)];
}

cudaStream_t communication_stream(int device) {
  check_device(device, "communication_stream");
  Streams& s = streams();
  std::call_once(s.communication_once[size_t(device)], [&] {
    DeviceGuard guard(device);
    int least = 0, greatest = 0;  // numerically, the greatest priority is the lowest number
    KILN_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest), "communication_stream");
    KILN_CUDA_CHECK(cudaStreamCreateWithPriority(&s.communication[size_t(device)],
                                                 cudaStreamNonBlocking, greatest),
                    "communication_stream");
  });
  return s.communication[size_t(device)];
}

void synchronize(int device) {
  KILN_CUDA_CHECK(cudaStreamSynchronize(compute_stream(device)), "synchronize");
}

}  // namespace kiln::cuda
