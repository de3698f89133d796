// fill and arange, mirroring src/cpu/copy.cpp: the fill value is converted to the dtype on the
// host exactly as the CPU converts it, and arange computes each element with the CPU's formula
// and rounding points, so both backends produce the same bits.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/elementwise.cuh"
#include "kernels/kernels.h"
#include "kernels/math.cuh"

namespace kiln::cuda {
namespace {

// The value's bits are stored; one kernel per element size.
template <class U>
struct FillStrided {
  StridedIndexer<1> ix;
  U* dst;
  U value;
  __device__ void operator()(int64_t i) const {
    int64_t o[1];
    strided_offsets(ix, i, o);
    dst[o[0]] = value;
  }
};

template <class U>
void launch_fill(const Tensor& dst, const void* value_bits, cudaStream_t stream) {
  U value;
  std::memcpy(&value, value_bits, sizeof(U));
  launch_elementwise(
      "fill", dst.numel(), stream,
      FillStrided<U>{make_indexer<1>({&dst}, "fill"), static_cast<U*>(raw_ptr(dst)), value});
}

// The value as the CPU's fill converts it (Scalar::to_int truncates a float for integers).
template <class T>
T fill_value(Scalar value) {
  if constexpr (std::is_same_v<T, bool>)
    return value.to_double() != 0.0;
  else if constexpr (std::is_integral_v<T>)
    return T(value.to_int());
  else
    return convert<T>(value.to_double());
}

template <class T>
struct Arange {
  T* out;
  StridedIndexer<1> ix;
  double start, step;
  __device__ void operator()(int64_t i) const {
    // start + i * step rounded twice, as the CPU computes it (no fused multiply-add).
    const double v = math::add_rn(start, math::mul_rn(double(i), step));
    T r;
    if constexpr (std::is_same_v<T, bool>)
      r = v != 0.0;
    else if constexpr (std::is_integral_v<T>)
      r = T(llround(v));
    else
      r = convert<T>(v);
    int64_t o[1];
    strided_offsets(ix, i, o);
    out[o[0]] = r;
  }
};

}  // namespace

void fill(const Tensor& dst, Scalar value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  const int device = dst.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  const size_t size = element_size(dst.dtype());
  unsigned char bits[8] = {};
  dispatch_all(dst.dtype(), [&]<class T>() {
    const T v = fill_value<T>(value);
    std::memcpy(bits, &v, sizeof(T));
  });
  // A value whose bytes are all equal (zeros above all) is a memset of a contiguous tensor.
  bool uniform_bytes = true;
  for (size_t k = 1; k < size; ++k) uniform_bytes = uniform_bytes && bits[k] == bits[0];
  if (uniform_bytes && dst.is_contiguous()) {
    KILN_CUDA_CHECK(cudaMemsetAsync(raw_ptr(dst), bits[0], size_t(n) * size, stream), "fill");
    return;
  }
  switch (size) {
    case 1:
      return launch_fill<uint8_t>(dst, bits, stream);
    case 2:
      return launch_fill<uint16_t>(dst, bits, stream);
    case 4:
      return launch_fill<uint32_t>(dst, bits, stream);
    case 8:
      return launch_fill<uint64_t>(dst, bits, stream);
    default:
      throw Error(
          ::kiln::detail::concat("fill: unsupported element size for ", dtype_name(dst.dtype())));
  }
}

void arange(const Tensor& out, double start, double step) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  dispatch_all(out.dtype(), [&]<class T>() {
    launch_elementwise(
        "arange", n, stream,
        Arange<T>{static_cast<T*>(raw_ptr(out)), make_indexer<1>({&out}, "arange"), start, step});
  });
}

}  // namespace kiln::cuda
