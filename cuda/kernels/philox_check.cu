#include "common/check.h"
#include "common/launch.cuh"
#include "core/philox.h"
#include "kernels/philox_check.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {

void philox_uniform_cuda(float* host_out, uint64_t n, uint64_t seed, uint64_t offset) {
  constexpr const char* kOp = "philox_uniform_cuda";
  if (n == 0) return;
  const int device = current_device();
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  const size_t nbytes = size_t(n) * sizeof(float);
  float* out = static_cast<float*>(raw_allocate(nbytes, device, kOp));
  // Freed stream-ordered on every path, including a failed launch.
  struct Free {
    void* p;
    int device;
    ~Free() { raw_free(p, device); }
  } free_out{out, device};
  launch_elementwise(kOp, int64_t(n), stream, [=] __device__(int64_t i) {
    out[i] = philox::uniform32(seed, offset, uint64_t(i));
  });
  KILN_CUDA_CHECK(cudaMemcpyAsync(host_out, out, nbytes, cudaMemcpyDeviceToHost, stream), kOp);
  KILN_CUDA_CHECK(cudaStreamSynchronize(stream), kOp);
}

}  // namespace kiln::cuda
