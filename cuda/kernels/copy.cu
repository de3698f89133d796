// Copies with the CUDA backend: on one device (any strides, any dtype conversion, with the CPU
// reference's conversion rules), across devices (peer copies), and between host and device
// (contiguous transfers, staged through a contiguous temporary where a side is strided or the
// dtypes differ). Host <-> device copies from pageable memory wait for the transfer; pinned
// memory allows copy_non_blocking.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

#include "backend/backend.h"
#include "kernels/copy.h"
#include "kernels/elementwise.cuh"
#include "kernels/kernels.h"
#include "kiln/ops.h"
#include "runtime/pinned.h"

namespace kiln::cuda {
namespace {

constexpr const char* kOp = "copy";

template <class T>
__host__ __device__ __forceinline__ double to_double(T v) {
  if constexpr (is_reduced_float_v<T>)
    return double(static_cast<float>(v));
  else
    return double(v);
}

// Value conversion exactly as src/cpu/copy.cpp converts: through the widest type of the pair,
// float -> integer truncating toward zero through int64 (so -1.0 becomes 255 in uint8) and
// saturating out of range (NaN becomes INT64_MIN, then wraps to the target), reduced floats
// through float.
template <class To, class From>
__host__ __device__ __forceinline__ To copy_convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return to_double(v) != 0.0;
  } else if constexpr (std::is_integral_v<From> && std::is_integral_v<To>) {
    return To(v);
  } else if constexpr (std::is_integral_v<To>) {
    const double d = to_double(v);
    if (!(d > -9.2233720368547758e18)) return To(std::numeric_limits<int64_t>::min());
    if (!(d < 9.2233720368547758e18)) return To(std::numeric_limits<int64_t>::max());
    return To(int64_t(d));
  } else if constexpr (is_reduced_float_v<To>) {
    // One rounding from an integer to float (not two through double), as the CPU's float(v).
    if constexpr (std::is_integral_v<From>)
      return convert<To>(static_cast<float>(v));
    else
      return convert<To>(static_cast<float>(to_double(v)));
  } else if constexpr (std::is_integral_v<From>) {
    return To(v);
  } else {
    return To(to_double(v));
  }
}

template <class S, class D>
struct ConvertStrided {
  StridedIndexer<2> ix;  // operand 0: dst, 1: src
  D* dst;
  const S* src;
  __device__ void operator()(int64_t i) const {
    int64_t o[2];
    strided_offsets(ix, i, o);
    dst[o[0]] = copy_convert<D>(src[o[1]]);
  }
};

// Same dtype: the bits move unchanged (NaN payloads included), one kernel per element size.
template <class U>
struct BitsStrided {
  StridedIndexer<2> ix;
  U* dst;
  const U* src;
  __device__ void operator()(int64_t i) const {
    int64_t o[2];
    strided_offsets(ix, i, o);
    dst[o[0]] = src[o[1]];
  }
};

template <class U>
void launch_bits(const Tensor& src, const Tensor& dst, cudaStream_t stream) {
  launch_elementwise(
      kOp, dst.numel(), stream,
      BitsStrided<U>{make_indexer<2>({&dst, &src}, kOp), static_cast<U*>(raw_ptr(dst)),
                     static_cast<const U*>(raw_ptr(src))});
}

// dst = src, both on one CUDA device and of one shape.
void copy_on_device(const Tensor& src, const Tensor& dst) {
  const int device = dst.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  if (src.dtype() == dst.dtype()) {
    if (src.is_contiguous() && dst.is_contiguous()) {
      const size_t nbytes = size_t(dst.numel()) * element_size(dst.dtype());
      KILN_CUDA_CHECK(
          cudaMemcpyAsync(raw_ptr(dst), raw_ptr(src), nbytes, cudaMemcpyDeviceToDevice, stream),
          kOp);
      return;
    }
    switch (element_size(dst.dtype())) {
      case 1:
        return launch_bits<uint8_t>(src, dst, stream);
      case 2:
        return launch_bits<uint16_t>(src, dst, stream);
      case 4:
        return launch_bits<uint32_t>(src, dst, stream);
      case 8:
        return launch_bits<uint64_t>(src, dst, stream);
      default:
        throw Error(
            ::kiln::detail::concat("copy: unsupported element size for ", dtype_name(dst.dtype())));
    }
  }
  dispatch_all(src.dtype(), [&]<class S>() {
    dispatch_all(dst.dtype(), [&]<class D>() {
      if constexpr (!std::is_same_v<S, D>) {  // same dtype took the bit copy above
        launch_elementwise(
            kOp, dst.numel(), stream,
            ConvertStrided<S, D>{make_indexer<2>({&dst, &src}, kOp), static_cast<D*>(raw_ptr(dst)),
                                 static_cast<const S*>(raw_ptr(src))});
      }
    });
  });
}

// A CUDA event released at scope exit (cudaEventDestroy defers the release until the event
// completes, so destroying right after enqueuing a wait on it is fine).
struct ScopedEvent {
  cudaEvent_t event = nullptr;
  explicit ScopedEvent(int device) {
    DeviceGuard guard(device);
    KILN_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), kOp);
  }
  ~ScopedEvent() {
    // A failure here must not stay in the runtime's error slot, where the next launch check
    // would report it as its own.
    if (event != nullptr && cudaEventDestroy(event) != cudaSuccess) (void)cudaGetLastError();
  }
  ScopedEvent(const ScopedEvent&) = delete;
  ScopedEvent& operator=(const ScopedEvent&) = delete;
};

// Contiguous same-dtype bytes from one device to another, on the destination's compute stream.
// It starts after the work queued on the source's stream (which produced src) and the source's
// stream waits for it before going on, so a stream-ordered free of src cannot overtake it.
void peer_copy(const Tensor& src, const Tensor& dst) {
  const int sd = src.device().index, dd = dst.device().index;
  const size_t nbytes = size_t(dst.numel()) * element_size(dst.dtype());
  cudaStream_t src_stream = compute_stream(sd), dst_stream = compute_stream(dd);
  ScopedEvent ready(sd), done(dd);
  {
    DeviceGuard guard(sd);
    KILN_CUDA_CHECK(cudaEventRecord(ready.event, src_stream), kOp);
  }
  {
    DeviceGuard guard(dd);
    KILN_CUDA_CHECK(cudaStreamWaitEvent(dst_stream, ready.event, 0), kOp);
    KILN_CUDA_CHECK(cudaMemcpyPeerAsync(raw_ptr(dst), dd, raw_ptr(src), sd, nbytes, dst_stream),
                    kOp);
    KILN_CUDA_CHECK(cudaEventRecord(done.event, dst_stream), kOp);
  }
  DeviceGuard guard(sd);
  KILN_CUDA_CHECK(cudaStreamWaitEvent(src_stream, done.event, 0), kOp);
}

void copy_across_devices(const Tensor& src, const Tensor& dst) {
  // Convert (or gather a strided source) on the source device, move contiguous bytes, scatter
  // into a strided destination on the destination device.
  Tensor s = src;
  if (!(src.is_contiguous() && src.dtype() == dst.dtype())) {
    s = empty(dst.shape(), TensorOptions(dst.dtype(), src.device()));
    copy_on_device(src, s);
  }
  Tensor d =
      dst.is_contiguous() ? dst : empty(dst.shape(), TensorOptions(dst.dtype(), dst.device()));
  peer_copy(s, d);
  if (!d.is_same(dst)) copy_on_device(d, dst);
}

// A contiguous CPU copy of t (same dtype), made by the CPU backend.
Tensor contiguous_on_cpu(const Tensor& t) {
  Tensor c = empty(t.shape(), TensorOptions(t.dtype(), Device::cpu()));
  backend(Device::cpu()).copy(t, c);
  return c;
}

// Contiguous same-dtype bytes between host and device on the device's compute stream: ordered
// after the device's pending work (the kernel that produced a device source, the allocation of
// a device destination) and waited for, so a pageable host buffer stays valid throughout and a
// host destination is complete on return.
void transfer(const Tensor& src, const Tensor& dst, int device, cudaMemcpyKind kind) {
  const size_t nbytes = size_t(dst.numel()) * element_size(dst.dtype());
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  KILN_CUDA_CHECK(cudaMemcpyAsync(raw_ptr(dst), raw_ptr(src), nbytes, kind, stream), kOp);
  KILN_CUDA_CHECK(cudaStreamSynchronize(stream), kOp);
}

void copy_host_to_device(const Tensor& src, const Tensor& dst) {
  // The bus carries the source's dtype; conversion and scattering happen on the GPU.
  const Tensor h = src.is_contiguous() ? src : contiguous_on_cpu(src);
  if (dst.is_contiguous() && dst.dtype() == src.dtype()) {
    transfer(h, dst, dst.device().index, cudaMemcpyHostToDevice);
    return;
  }
  Tensor staged = empty(dst.shape(), TensorOptions(src.dtype(), dst.device()));
  transfer(h, staged, dst.device().index, cudaMemcpyHostToDevice);
  copy_on_device(staged, dst);
}

void copy_device_to_host(const Tensor& src, const Tensor& dst) {
  // Converted and gathered on the GPU, so the bus carries the destination's dtype.
  Tensor s = src;
  if (!(src.is_contiguous() && src.dtype() == dst.dtype())) {
    s = empty(dst.shape(), TensorOptions(dst.dtype(), src.device()));
    copy_on_device(src, s);
  }
  Tensor h =
      dst.is_contiguous() ? dst : empty(dst.shape(), TensorOptions(dst.dtype(), Device::cpu()));
  transfer(s, h, src.device().index, cudaMemcpyDeviceToHost);
  if (!h.is_same(dst)) backend(Device::cpu()).copy(h, dst);
}

// Host buffers of non-blocking transfers, released on an ordinary thread. The stream's host
// function (cudaLaunchHostFunc) must not call CUDA, and dropping the last reference to pinned
// memory calls cudaFreeHost; so the host function only moves the reference here and the next
// copy lets it go. Never destroyed: a host function may run during static destruction.
struct PendingRelease {
  std::mutex mutex;
  std::vector<std::shared_ptr<Storage>> storages;
};

PendingRelease& pending_release() {
  static PendingRelease& p = *std::make_unique<PendingRelease>().release();
  return p;
}

void CUDART_CB release_after_transfer(void* arg) {
  std::unique_ptr<std::shared_ptr<Storage>> held(static_cast<std::shared_ptr<Storage>*>(arg));
  PendingRelease& p = pending_release();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.storages.push_back(std::move(*held));
}

void release_finished_transfers() {
  std::vector<std::shared_ptr<Storage>> finished;
  PendingRelease& p = pending_release();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    finished.swap(p.storages);
  }
  // `finished` drops the references here, outside the lock.
}

}  // namespace

void copy(const Tensor& src, const Tensor& dst) {
  release_finished_transfers();
  KILN_CHECK(src.numel() == dst.numel(), "copy: source of shape ", shape_str(src.shape()), " has ",
             src.numel(), " elements but destination of shape ", shape_str(dst.shape()), " has ",
             dst.numel());
  const Device sd = src.device(), dd = dst.device();
  KILN_CHECK(sd.is_cuda() || dd.is_cuda(), "copy: the CUDA backend got two CPU tensors");
  if (dst.numel() == 0) return;
  // Kernels index both operands by the destination's shape. Other shapes with the same number
  // of elements are fine only when both are contiguous (a flat copy).
  Tensor s = src;
  if (src.shape() != dst.shape()) {
    KILN_CHECK(src.is_contiguous() && dst.is_contiguous(), "copy: source of shape ",
               shape_str(src.shape()), " and destination of shape ", shape_str(dst.shape()),
               " differ and are not both contiguous");
    s = make_view(src, dst.shape(), contiguous_strides(dst.shape()), src.storage_offset());
  }
  if (sd.is_cpu()) {
    copy_host_to_device(s, dst);
  } else if (dd.is_cpu()) {
    copy_device_to_host(s, dst);
  } else if (sd.index == dd.index) {
    copy_on_device(s, dst);
  } else {
    copy_across_devices(s, dst);
  }
}

void copy_non_blocking(const Tensor& src, const Tensor& dst) {
  release_finished_transfers();
  const bool to_device = src.device().is_cpu() && dst.device().is_cuda();
  const bool to_host = src.device().is_cuda() && dst.device().is_cpu();
  const bool plain_bytes = src.dtype() == dst.dtype() && src.numel() == dst.numel() &&
                           src.is_contiguous() && dst.is_contiguous();
  if (!(to_device || to_host) || !plain_bytes ||
      !is_pinned_pointer((to_device ? src : dst).impl()->data())) {
    copy(src, dst);
    return;
  }
  const size_t nbytes = size_t(dst.numel()) * element_size(dst.dtype());
  if (nbytes == 0) return;
  const Tensor& host = to_device ? src : dst;
  const int device = to_device ? dst.device().index : src.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  // Ordered after the device's pending work like a blocking copy, but not waited for. The device
  // buffer needs no holding: a later free of it is queued on this same stream, behind the copy.
  KILN_CUDA_CHECK(
      cudaMemcpyAsync(raw_ptr(dst), raw_ptr(src), nbytes,
                      to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, stream),
      "copy_non_blocking");
  auto held = std::make_unique<std::shared_ptr<Storage>>(host.impl()->storage());
  const cudaError_t err = cudaLaunchHostFunc(stream, release_after_transfer, held.get());
  if (err != cudaSuccess) {
    // The transfer is queued but nothing would keep the host buffer alive: wait for it.
    (void)cudaStreamSynchronize(stream);
    detail::throw_cuda_error(err, "copy_non_blocking",
                             "cudaLaunchHostFunc(stream, release_after_transfer, held)");
  }
  (void)held.release();  // owned by the host function now
}

}  // namespace kiln::cuda
