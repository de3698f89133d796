#include <memory>
#include <mutex>
#include <vector>

#include "blas/lt.h"
#include "common/check.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda::blas {
namespace {

struct DeviceLt {
  std::mutex mutex;
  LtContext context;
};

// Never destroyed (see lt.h): a handle destroyed at exit could be needed by a later destructor.
std::vector<DeviceLt>& all_contexts() {
  static std::vector<DeviceLt>& contexts =
      *std::make_unique<std::vector<DeviceLt>>(size_t(device_count())).release();
  return contexts;
}

}  // namespace

LtContext lt_context(int device, const char* op) {
  check_device(device, op);
  DeviceLt& d = all_contexts()[size_t(device)];
  std::lock_guard<std::mutex> lock(d.mutex);
  if (d.context.handle == nullptr) KILN_CUBLAS_CHECK(cublasLtCreate(&d.context.handle), op);
  if (d.context.workspace == nullptr) {
    cudaStream_t stream = compute_stream(device);
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    KILN_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture), op);
    if (capture == cudaStreamCaptureStatusNone) {
      // The workspace only widens the choice of algorithms: on a nearly full GPU the product
      // runs without one (the algorithm cache is keyed by the workspace size) and a later call
      // tries again.
      try {
        d.context.workspace = raw_allocate(kWorkspaceBytes, device, op);
        d.context.workspace_bytes = kWorkspaceBytes;
      } catch (const OutOfMemoryError&) {
        d.context.workspace = nullptr;
        d.context.workspace_bytes = 0;
      }
    }
  }
  return d.context;
}

}  // namespace kiln::cuda::blas
