#pragma once
// A cudaEvent_t owned by one object (RAII), for ordering work between streams (the
// communication stream waits for the gradients computed on the compute stream, and the other way
// round) and for timing. kiln::cuda::Event (kiln/cuda.h) is the public handle built on it.
#include <cuda_runtime_api.h>

namespace kiln::cuda {

class StreamEvent {
 public:
  // Created on `device`. Without timing the event is cheaper to record and to wait for
  // (cudaEventDisableTiming).
  explicit StreamEvent(int device, bool enable_timing = false);
  ~StreamEvent();
  StreamEvent(const StreamEvent&) = delete;
  StreamEvent& operator=(const StreamEvent&) = delete;

  // Marks the point that the work queued on `stream` so far reaches (a stream of this device).
  void record(cudaStream_t stream);
  // Work queued on `stream` after this call waits for the recorded point (any device's stream).
  void wait(cudaStream_t stream) const;
  void synchronize() const;  // blocks the host until the recorded point is reached
  bool query() const;        // whether it is reached (true before any record)
  // Milliseconds between this event and `end`, both recorded with timing and reached.
  float elapsed_ms(const StreamEvent& end) const;

  int device() const { return device_; }
  bool enable_timing() const { return enable_timing_; }
  cudaEvent_t get() const { return event_; }

 private:
  int device_;
  bool enable_timing_;
  cudaEvent_t event_ = nullptr;
};

}  // namespace kiln::cuda
