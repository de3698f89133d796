#include "runtime/event.h"

#include "common/check.h"
#include "runtime/device.h"

namespace kiln::cuda {

StreamEvent::StreamEvent(int device, bool enable_timing)
    : device_(device), enable_timing_(enable_timing) {
  check_device(device, "Event");
  DeviceGuard guard(device);
  KILN_CUDA_CHECK(
      cudaEventCreateWithFlags(&event_, enable_timing ? cudaEventDefault : cudaEventDisableTiming),
      "Event");
}

StreamEvent::~StreamEvent() {
  // Legal while the event is still pending: the driver releases it once it completes. Errors
  // are dropped (a destructor; at process exit the runtime may already be gone).
  if (event_ != nullptr) (void)cudaEventDestroy(event_);
  (void)cudaGetLastError();
}

void StreamEvent::record(cudaStream_t stream) {
  DeviceGuard guard(device_);
  KILN_CUDA_CHECK(cudaEventRecord(event_, stream), "Event.record");
}

void StreamEvent::wait(cudaStream_t stream) const {
  KILN_CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0), "Event.wait");
}

void StreamEvent::synchronize() const {
  KILN_CUDA_CHECK(cudaEventSynchronize(event_), "Event.synchronize");
}

bool StreamEvent::query() const {
  cudaError_t err = cudaEventQuery(event_);
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();  // not an error, but the runtime records it as the last one
    return false;
  }
  KILN_CUDA_CHECK(err, "Event.query");
  return true;
}

float StreamEvent::elapsed_ms(const StreamEvent& end) const {
  KILN_CHECK(enable_timing_ && end.enable_timing_,
             "Event.elapsed_time: both events must be created with enable_timing=True");
  float ms = 0;
  KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, event_, end.event_), "Event.elapsed_time");
  return ms;
}

}  // namespace kiln::cuda
