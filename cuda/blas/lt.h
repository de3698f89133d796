#pragma once
// The cuBLASLt seam: one handle per device (created on first use, never destroyed, like the
// compute streams, so that work during static destruction still finds it), a workspace per
// device for split-K and the other algorithms that need one, and a cache of the algorithm the
// heuristic chose per problem. Internal to cuda/.
#include <cublasLt.h>

#include <cstddef>
#include <cstdint>

namespace kiln::cuda::blas {

// The workspace cuBLASLt may use per call: what cuBLAS itself defaults to on Hopper.
inline constexpr size_t kWorkspaceBytes = size_t(32) << 20;

struct LtContext {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;  // kWorkspaceBytes on the device, or null (see lt_context)
  size_t workspace_bytes = 0;
};

// The handle and workspace of `device` (which must be current). The workspace is allocated
// from the stream-ordered pool on the first call made outside CUDA Graph capture: an allocation
// made during capture would belong to the graph, so a capture that comes first runs without
// one. Every user of the workspace runs on the device's compute stream, so calls never overlap.
LtContext lt_context(int device, const char* op);

}  // namespace kiln::cuda::blas
