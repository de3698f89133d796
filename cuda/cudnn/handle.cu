#include <memory>
#include <mutex>
#include <vector>

#include "common/check.h"
#include "cudnn/handle.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda::cudnn {
namespace {

struct DeviceHandle {
  std::mutex mutex;
  cudnnHandle_t handle = nullptr;
};

// Never destroyed (see handle.h).
std::vector<DeviceHandle>& all_handles() {
  static std::vector<DeviceHandle>& handles =
      *std::make_unique<std::vector<DeviceHandle>>(size_t(device_count())).release();
  return handles;
}

}  // namespace

cudnnHandle_t handle(int device, const char* op) {
  check_device(device, op);
  DeviceHandle& d = all_handles()[size_t(device)];
  std::lock_guard<std::mutex> lock(d.mutex);
  if (d.handle == nullptr) {
    cudnnHandle_t h = nullptr;
    KILN_CUDNN_CHECK(cudnnCreate(&h), op);
    KILN_CUDNN_CHECK(cudnnSetStream(h, compute_stream(device)), op);
    d.handle = h;
  }
  return d.handle;
}

}  // namespace kiln::cuda::cudnn
