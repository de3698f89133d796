#pragma once
// Error checks for the CUDA runtime and the vendor libraries. A failed call throws kiln::Error
// naming the Kiln op, the call as written and the library's own description, e.g.
//   "allocate: cudaMallocAsync(&ptr, nbytes, stream) failed: out of memory
//   (cudaErrorMemoryAllocation)"
// Internal to cuda/: the public headers under include/kiln stay free of CUDA headers.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <nccl.h>

#include "kiln/error.h"

namespace kiln::cuda::detail {

// Builds the message for a failed call. Also clears the runtime's last-error slot, so that a
// recoverable failure (an out-of-memory, say) is not reported again by the next launch check.
[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* op, const char* call) {
  (void)cudaGetLastError();
  throw ::kiln::Error(::kiln::detail::concat(op, ": ", call, " failed: ", cudaGetErrorString(err),
                                             " (", cudaGetErrorName(err), ")"));
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* op,
                                            const char* call) {
  throw ::kiln::Error(::kiln::detail::concat(op, ": ", call,
                                             " failed: ", cublasGetStatusString(status), " (",
                                             cublasGetStatusName(status), ")"));
}

[[noreturn]] inline void throw_cudnn_error(cudnnStatus_t status, const char* op, const char* call) {
  throw ::kiln::Error(
      ::kiln::detail::concat(op, ": ", call, " failed: ", cudnnGetErrorString(status)));
}

[[noreturn]] inline void throw_nccl_error(ncclResult_t result, const char* op, const char* call) {
  // ncclGetLastError carries the detail (which peer, which transport) when NCCL has one.
  const char* last = ncclGetLastError(nullptr);
  bool has_detail = last != nullptr && last[0] != '\0';
  throw ::kiln::Error(::kiln::detail::concat(op, ": ", call,
                                             " failed: ", ncclGetErrorString(result),
                                             has_detail ? ": " : "", has_detail ? last : ""));
}

}  // namespace kiln::cuda::detail

// `op` is the Kiln-level operation ("allocate", "copy", "gelu"); it starts the message.
#define KILN_CUDA_CHECK(call, op)                                          \
  do {                                                                     \
    cudaError_t kiln_cuda_err_ = (call);                                   \
    if (kiln_cuda_err_ != cudaSuccess)                                     \
      ::kiln::cuda::detail::throw_cuda_error(kiln_cuda_err_, (op), #call); \
  } while (0)

#define KILN_CUBLAS_CHECK(call, op)                                               \
  do {                                                                            \
    cublasStatus_t kiln_cublas_status_ = (call);                                  \
    if (kiln_cublas_status_ != CUBLAS_STATUS_SUCCESS)                             \
      ::kiln::cuda::detail::throw_cublas_error(kiln_cublas_status_, (op), #call); \
  } while (0)

#define KILN_CUDNN_CHECK(call, op)                                              \
  do {                                                                          \
    cudnnStatus_t kiln_cudnn_status_ = (call);                                  \
    if (kiln_cudnn_status_ != CUDNN_STATUS_SUCCESS)                             \
      ::kiln::cuda::detail::throw_cudnn_error(kiln_cudnn_status_, (op), #call); \
  } while (0)

#define KILN_NCCL_CHECK(call, op)                                             \
  do {                                                                        \
    ncclResult_t kiln_nccl_result_ = (call);                                  \
    if (kiln_nccl_result_ != ncclSuccess)                                     \
      ::kiln::cuda::detail::throw_nccl_error(kiln_nccl_result_, (op), #call); \
  } while (0)

// After a kernel launch: reports a bad launch configuration (errors inside the kernel surface at
// the next synchronizing call).
#define KILN_CUDA_CHECK_LAUNCH(op) KILN_CUDA_CHECK(cudaGetLastError(), op)
