#include <cuda_runtime_api.h>

#include <cstdio>
#include <mutex>
#include <vector>

#include "common/check.h"
#include "runtime/device.h"

namespace kiln::cuda {
namespace {

int query_device_count() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    // cudaErrorNoDevice, cudaErrorInsufficientDriver (no libcuda, or an older driver), a broken
    // installation: all mean "no usable GPU" for a CPU-capable framework, not a failure.
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

// Properties are read once per device: cudaGetDeviceProperties is slow enough to matter when
// asked for in a loop.
struct PropertyCache {
  std::vector<std::once_flag> once;
  std::vector<cudaDeviceProp> props;
  explicit PropertyCache(int n) : once(size_t(n)), props(size_t(n)) {}
};

const cudaDeviceProp& properties(int device) {
  static PropertyCache cache(device_count());
  check_device(device, "device properties");
  std::call_once(cache.once[size_t(device)], [device] {
    KILN_CUDA_CHECK(cudaGetDeviceProperties(&cache.props[size_t(device)], device),
                    "device properties");
  });
  return cache.props[size_t(device)];
}

}  // namespace

int device_count() {
  static const int count = query_device_count();
  return count;
}

bool is_available() { return device_count() > 0; }

int current_device() {
  KILN_CHECK(is_available(), "current_device: no CUDA device available");
  int device = 0;
  KILN_CUDA_CHECK(cudaGetDevice(&device), "current_device");
  return device;
}

void set_device(int device) {
  check_device(device, "set_device");
  KILN_CUDA_CHECK(cudaSetDevice(device), "set_device");
}

void check_device(int device, const char* op) {
  int count = device_count();
  KILN_CHECK(count > 0, op, ": no CUDA device available");
  KILN_CHECK(device >= 0 && device < count, op, ": CUDA device index ", device, " out of range (",
             count, count == 1 ? " device)" : " devices)");
}

int resolve_device(int device, const char* op) {
  if (device < 0) {
    KILN_CHECK(is_available(), op, ": no CUDA device available");
    device = current_device();
  }
  check_device(device, op);
  return device;
}

std::string device_name(int device) { return properties(device).name; }

int compute_capability(int device) {
  const cudaDeviceProp& p = properties(device);
  return p.major * 10 + p.minor;
}

size_t total_memory(int device) { return properties(device).totalGlobalMem; }

int multiprocessor_count(int device) { return properties(device).multiProcessorCount; }

std::string device_summary(int device) {
  const cudaDeviceProp& p = properties(device);
  char details[96];
  std::snprintf(details, sizeof(details), " (sm_%d%d, %.1f GiB, %d SMs)", p.major, p.minor,
                double(p.totalGlobalMem) / double(1ull << 30), p.multiProcessorCount);
  return "cuda:" + std::to_string(device) + " " + p.name + details;
}

DeviceGuard::DeviceGuard(int device) : previous_(current_device()), changed_(device != previous_) {
  if (changed_) set_device(device);
}

DeviceGuard::~DeviceGuard() {
  // A destructor must not throw; restoring the device cannot fail once setting it succeeded.
  if (changed_) (void)cudaSetDevice(previous_);
}

}  // namespace kiln::cuda
