// The public kiln::cuda API (kiln/cuda.h) with the CUDA backend: what the runtime's device,
// stream and event pieces do, behind plain C++ signatures. device_count / is_available /
// current_device / set_device are in device.cu, the memory statistics in allocator.cu, the TF32
// and cuDNN switches in src/core/tf32.cpp and src/core/cudnn_flags.cpp (shared with the
// CPU-only build).
#include <memory>

#include "common/check.h"
#include "kiln/cuda.h"
#include "runtime/device.h"
#include "runtime/event.h"
#include "runtime/stream.h"

namespace kiln::cuda {

bool cudnn_is_available() { return device_count() > 0; }

int64_t cudnn_version() { return int64_t(cudnnGetVersion()); }

std::string get_device_name(int device) {
  return device_name(resolve_device(device, "get_device_name"));
}

void synchronize_device(int device) {
  device = resolve_device(device, "synchronize");
  DeviceGuard guard(device);
  // All streams of the device (compute, communication, other libraries' own), as
  // torch.cuda.synchronize does.
  KILN_CUDA_CHECK(cudaDeviceSynchronize(), "synchronize");
}

// ---- Event: a StreamEvent made at the first record, on that device ----

struct Event::Impl {
  bool enable_timing = false;
  std::unique_ptr<StreamEvent> event;
};

Event::Event(bool enable_timing) : impl_(std::make_shared<Impl>()) {
  impl_->enable_timing = enable_timing;
}

bool Event::enable_timing() const { return impl_->enable_timing; }

void Event::record(int device) {
  device = resolve_device(device, "Event.record");
  if (!impl_->event) {
    impl_->event = std::make_unique<StreamEvent>(device, impl_->enable_timing);
  }
  KILN_CHECK(impl_->event->device() == device,
             "Event.record: the event belongs to cuda:", impl_->event->device(),
             " and cannot be recorded on cuda:", device);
  impl_->event->record(compute_stream(device));
}

void Event::wait(int device) const {
  if (!impl_->event) return;
  device = resolve_device(device, "Event.wait");
  impl_->event->wait(compute_stream(device));
}

void Event::synchronize() const {
  if (impl_->event) impl_->event->synchronize();
}

bool Event::query() const { return !impl_->event || impl_->event->query(); }

double Event::elapsed_time(const Event& end) const {
  KILN_CHECK(impl_->event && end.impl_->event,
             "Event.elapsed_time: both events must be recorded first");
  return double(impl_->event->elapsed_ms(*end.impl_->event));
}

bool Event::recorded() const { return impl_->event != nullptr; }

int Event::device() const { return impl_->event ? impl_->event->device() : -1; }

}  // namespace kiln::cuda
