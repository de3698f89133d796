// The TF32 switch lives here, in both builds, so that a CPU-only build can still set and read it
// (torch.backends.cuda.matmul.allow_tf32 exists without a GPU too); the cuBLASLt matrix products
// read it at every call.
#include <atomic>

#include "kiln/cuda.h"

namespace kiln::cuda {

namespace {
std::atomic<bool> g_allow_tf32{false};
}  // namespace

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }

bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

}  // namespace kiln::cuda
