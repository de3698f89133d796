// kiln::cuda in a build without the CUDA backend: no device, and every call that needs one says
// why it cannot work. (With the backend, cuda/runtime/api.cpp defines the same functions.)
#ifndef KILN_WITH_CUDA

#include "kiln/cuda.h"

namespace kiln::cuda {

namespace {
[[noreturn]] void no_backend(const char* op) {
  throw Error(detail::concat(op,
                             ": this build of Kiln has no CUDA backend (configure with "
                             "-DKILN_CUDA=ON on a machine with the CUDA toolkit)"));
}
}  // namespace

int device_count() { return 0; }
bool is_available() { return false; }
int current_device() { no_backend("current_device"); }
void set_device(int) { no_backend("set_device"); }
std::string get_device_name(int) { no_backend("get_device_name"); }
void synchronize_device(int) { no_backend("synchronize"); }
MemoryStats memory_stats(int) { no_backend("memory_stats"); }
void reset_peak_memory_stats(int) { no_backend("reset_peak_memory_stats"); }
void empty_cache(int) {}  // nothing cached, as torch.cuda.empty_cache() without a GPU
bool cudnn_is_available() { return false; }
int64_t cudnn_version() { return -1; }

// Creating an event needs no device (torch creates the CUDA event at the first record); using
// one does.
struct Event::Impl {
  bool enable_timing = false;
};

Event::Event(bool enable_timing) : impl_(std::make_shared<Impl>(Impl{enable_timing})) {}
bool Event::enable_timing() const { return impl_->enable_timing; }
void Event::record(int) { no_backend("Event.record"); }
void Event::wait(int) const {}
void Event::synchronize() const {}
bool Event::query() const { return true; }
double Event::elapsed_time(const Event&) const { no_backend("Event.elapsed_time"); }
bool Event::recorded() const { return false; }
int Event::device() const { return -1; }

}  // namespace kiln::cuda

#endif  // KILN_WITH_CUDA
