// The CUDA backend. In this stage it owns memory only: allocation (stream-ordered pool) and
// contiguous same-dtype copies between host and device or between devices. Every kernel family
// raises "<op>: no CUDA kernel" and supports() says false for it, so nothing silently falls back
// to the CPU.
#include <cuda_runtime_api.h>

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "common/check.h"
#include "core/storage.h"
#include "core/tensor_impl.h"
#include "kiln/dtype.h"
#include "kiln/error.h"
#include "ops/op_registry.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln {

Backend* make_cuda_backend();

namespace {

[[noreturn]] void no_kernel(const char* name) {
  throw Error(detail::concat(name, ": no CUDA kernel"));
}
[[noreturn]] void no_kernel(OpId op) { no_kernel(op_name(op)); }

// The address of the view's first element. TensorImpl::data() is used rather than
// Tensor::data_ptr(), which is documented for CPU tensors.
void* raw_data(const Tensor& t) { return t.impl()->data(); }

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "CUDA"; }

  bool supports(OpId op) const override { return op == OpId::Copy; }

  std::shared_ptr<Storage> allocate(size_t nbytes, Device device) override {
    KILN_CHECK(device.is_cuda(), "allocate: the CUDA backend cannot allocate on ", device.str());
    KILN_CHECK(cuda::device_count() > 0, "allocate: no CUDA device available for ", device.str());
    return cuda::allocate_storage(nbytes, device.index);
  }

  void copy(const Tensor& src, const Tensor& dst) override {
    KILN_CHECK(src.numel() == dst.numel(), "copy: source has ", src.numel(),
               " elements but destination has ", dst.numel());
    KILN_CHECK(src.device().is_cuda() || dst.device().is_cuda(),
               "copy: the CUDA backend got two CPU tensors");
    if (src.dtype() != dst.dtype() || !src.is_contiguous() || !dst.is_contiguous()) {
      throw Error(
          "copy: strided or dtype-converting CUDA copies arrive with the CUDA kernels issue");
    }
    const size_t nbytes = size_t(src.numel()) * element_size(src.dtype());
    if (nbytes == 0) return;
    const void* from = raw_data(src);
    void* to = raw_data(dst);
    const Device sd = src.device(), dd = dst.device();

    if (sd.is_cpu()) {
      // Host to device, ordered after the destination's pending work (its allocation included).
      // Waiting at the end keeps the pageable source buffer valid for the whole transfer.
      cuda::DeviceGuard guard(dd.index);
      cudaStream_t stream = cuda::compute_stream(dd.index);
      KILN_CUDA_CHECK(cudaMemcpyAsync(to, from, nbytes, cudaMemcpyHostToDevice, stream), "copy");
      KILN_CUDA_CHECK(cudaStreamSynchronize(stream), "copy");
    } else if (dd.is_cpu()) {
      // Device to host, after the kernels that produced the source.
      cuda::DeviceGuard guard(sd.index);
      cudaStream_t stream = cuda::compute_stream(sd.index);
      KILN_CUDA_CHECK(cudaMemcpyAsync(to, from, nbytes, cudaMemcpyDeviceToHost, stream), "copy");
      KILN_CUDA_CHECK(cudaStreamSynchronize(stream), "copy");
    } else if (sd.index == dd.index) {
      // Same device: stream-ordered, no wait.
      cuda::DeviceGuard guard(dd.index);
      KILN_CUDA_CHECK(cudaMemcpyAsync(to, from, nbytes, cudaMemcpyDeviceToDevice,
                                      cuda::compute_stream(dd.index)),
                      "copy");
    } else {
      // Across devices: the source's stream must finish producing it before the destination's
      // stream reads it.
      cuda::synchronize(sd.index);
      cuda::DeviceGuard guard(dd.index);
      KILN_CUDA_CHECK(
          cudaMemcpyPeerAsync(to, dd.index, from, sd.index, nbytes, cuda::compute_stream(dd.index)),
          "copy");
    }
  }

  void fill(const Tensor&, Scalar) override { no_kernel(OpId::Fill); }
  void arange(const Tensor&, double, double) override { no_kernel(OpId::Arange); }

  void unary(OpId op, const Tensor&, const Tensor&, const OpParams&) override { no_kernel(op); }
  void binary(OpId op, const Tensor&, const Tensor&, const Tensor&) override { no_kernel(op); }
  void where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) override {
    no_kernel(OpId::Where);
  }

  void reduce(OpId op, const Tensor&, const std::vector<int64_t>&, const Tensor&) override {
    no_kernel(op);
  }
  void arg_reduce(OpId op, const Tensor&, int64_t, const Tensor&, const Tensor&) override {
    no_kernel(op);
  }
  void softmax(OpId op, const Tensor&, int64_t, const Tensor&) override { no_kernel(op); }
  void bmm(const Tensor&, const Tensor&, const Tensor&) override { no_kernel(OpId::Bmm); }

  void index_select(const Tensor&, int64_t, const Tensor&, const Tensor&) override {
    no_kernel(OpId::IndexSelect);
  }
  void index_add(const Tensor&, int64_t, const Tensor&, const Tensor&, double) override {
    no_kernel(OpId::IndexAdd);
  }
  void gather(const Tensor&, int64_t, const Tensor&, const Tensor&) override {
    no_kernel(OpId::Gather);
  }
  void scatter(OpId op, const Tensor&, int64_t, const Tensor&, const Tensor&) override {
    no_kernel(op);
  }

  void random(OpId op, const Tensor&, uint64_t, uint64_t, const OpParams&, const Tensor&) override {
    no_kernel(op);
  }
};

}  // namespace

Backend* make_cuda_backend() {
  static CudaBackend backend;
  return &backend;
}

}  // namespace kiln
