// The cuDNN switches (kiln/cuda.h), in both builds as the TF32 switch of tf32.cpp: a CPU-only
// build can still set and read them (torch.backends.cudnn.benchmark exists without a GPU); the
// cuDNN convolution and batch norm (cuda/cudnn/) read them at every call.
#include <atomic>

#include "kiln/cuda.h"

namespace kiln::cuda {

namespace {
std::atomic<bool> g_enabled{true};
std::atomic<bool> g_benchmark{false};
std::atomic<bool> g_deterministic{false};
std::atomic<bool> g_allow_tf32{true};
}  // namespace

void set_cudnn_enabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }
bool cudnn_enabled() { return g_enabled.load(std::memory_order_relaxed); }

void set_cudnn_benchmark(bool benchmark) {
  g_benchmark.store(benchmark, std::memory_order_relaxed);
}
bool cudnn_benchmark() { return g_benchmark.load(std::memory_order_relaxed); }

void set_cudnn_deterministic(bool deterministic) {
  g_deterministic.store(deterministic, std::memory_order_relaxed);
}
bool cudnn_deterministic() { return g_deterministic.load(std::memory_order_relaxed); }

void set_cudnn_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }
bool cudnn_allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

}  // namespace kiln::cuda
