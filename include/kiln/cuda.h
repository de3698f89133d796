#pragma once
// The public CUDA runtime API (torch.cuda's): devices, synchronisation, events, memory statistics
// and the TF32 switch. Plain C++: no CUDA headers. In a build without the CUDA backend every query
// answers "no device" (device_count() == 0) and the calls that need a GPU throw kiln::Error.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kiln/error.h"

namespace kiln::cuda {

// An allocation on a GPU that failed even after the pool gave its cached memory back. The
// message names the op, the requested size and the pool's statistics. The process stays usable:
// free something and try again. (kiln.cuda.OutOfMemoryError in Python, a RuntimeError.)
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

int device_count();   // 0, never an exception, without a driver or a device
bool is_available();  // device_count() > 0
int current_device();
void set_device(int device);
std::string get_device_name(int device = -1);

// Waits for all work queued on the device (-1: the current device).
void synchronize_device(int device = -1);

// The stream-ordered pool's statistics, torch.cuda.memory_stats()'s names in C++ form. Sizes are
// the bytes requested (torch rounds each up to a multiple of 512 first).
struct MemoryStats {
  int64_t allocated_bytes = 0;       // held by live tensors and workspaces now
  int64_t peak_allocated_bytes = 0;  // maximum of allocated_bytes since start or last reset
  int64_t reserved_bytes = 0;        // held by the pool (allocated + cached)
  int64_t peak_reserved_bytes = 0;
  int64_t allocations = 0;       // live allocations now
  int64_t peak_allocations = 0;  // maximum of allocations since start or last reset
  int64_t num_allocs = 0;        // allocations served since start
  int64_t num_frees = 0;
  int64_t num_alloc_retries = 0;  // allocations that succeeded only after trimming the pool
  int64_t num_ooms = 0;           // allocations that failed even after trimming the pool
};
MemoryStats memory_stats(int device = -1);
// Peaks restart from the current values (torch.cuda.reset_peak_memory_stats).
void reset_peak_memory_stats(int device = -1);
// Returns the pool's cached, unused memory to the driver (torch.cuda.empty_cache); waits for the
// device's compute stream first.
void empty_cache(int device = -1);

// A CUDA event on a device's compute stream, like torch.cuda.Event: record() marks the point
// reached by the work queued so far; wait() makes later work on a stream wait for it;
// synchronize() blocks the host until it is reached. The event belongs to the device it is first
// recorded on. Copies share one event.
class Event {
 public:
  explicit Event(bool enable_timing = false);
  bool enable_timing() const;
  // Records on the compute stream of `device` (-1: the current device).
  void record(int device = -1);
  // Later work on the compute stream of `device` (-1: the current device) waits for the event.
  // Does nothing for an event never recorded.
  void wait(int device = -1) const;
  void synchronize() const;  // returns at once for an event never recorded
  bool query() const;        // reached? (true for an event never recorded, as torch)
  // Milliseconds from this event to `end`; both recorded with enable_timing and synchronised.
  double elapsed_time(const Event& end) const;
  bool recorded() const;
  int device() const;  // -1 until recorded

  struct Impl;  // defined by the CUDA runtime (or the stub without it)

 private:
  std::shared_ptr<Impl> impl_;
};

// float32 matrix products on tensor cores with TF32 inputs (torch.backends.cuda.matmul.
// allow_tf32). Off by default: float32 means float32 unless asked otherwise.
void set_allow_tf32(bool allow);
bool allow_tf32();

// cuDNN's switches, torch.backends.cudnn's (src/core/cudnn_flags.cpp; they exist without a GPU
// too, with nothing to act on). Read at every convolution / batch norm call:
//  - enabled (default true): convolutions and batch norm use cuDNN. Off, batch norm runs
//    Kiln's own kernels and a convolution on CUDA raises (there is no other CUDA convolution).
//  - benchmark (default false): the algorithm for a new problem is timed with cudnnFind*Ex
//    instead of taken from cuDNN's heuristics (slower first call, often faster later ones).
//  - deterministic (default false): only algorithms that give bit-identical results run.
//  - allow_tf32 (default true, as torch): float32 convolutions may use TF32 tensor cores.
// A choice made for a problem is cached with the switches it was made under.
void set_cudnn_enabled(bool enabled);
bool cudnn_enabled();
void set_cudnn_benchmark(bool benchmark);
bool cudnn_benchmark();
void set_cudnn_deterministic(bool deterministic);
bool cudnn_deterministic();
void set_cudnn_allow_tf32(bool allow);
bool cudnn_allow_tf32();
// Whether cuDNN can run here: built with it and a GPU present.
bool cudnn_is_available();
// cudnnGetVersion() (major * 10000 + minor * 100 + patch, e.g. 91900), or -1 in a build
// without the CUDA backend (torch.backends.cudnn.version() is then None).
int64_t cudnn_version();

}  // namespace kiln::cuda
