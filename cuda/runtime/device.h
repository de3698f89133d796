#pragma once
// Devices as the CUDA runtime sees them. Plain C++ (no CUDA headers), so that host code in src/
// may ask how many GPUs there are. device_count, is_available, current_device and set_device are
// the public ones of kiln/cuda.h: device_count() is 0 (never an exception) when there is no
// driver, no device, or the driver is older than the runtime, computed once per process.
#include <cstddef>
#include <string>

#include "kiln/cuda.h"

namespace kiln::cuda {

// Throws kiln::Error naming `op` when `device` is not in [0, device_count()).
void check_device(int device, const char* op);
// `device`, or the current device when it is negative (the public API's -1); checked.
int resolve_device(int device, const char* op);

// Properties, e.g. "NVIDIA H200", (9, 0), 150 GB.
std::string device_name(int device);
int compute_capability(int device);  // major * 10 + minor, e.g. 90
size_t total_memory(int device);
int multiprocessor_count(int device);
// "cuda:0 NVIDIA H200 (sm_90, 139.8 GiB, 132 SMs)"
std::string device_summary(int device);

// Makes `device` current for the scope and restores the previous device after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_;
  bool changed_;
};

}  // namespace kiln::cuda
