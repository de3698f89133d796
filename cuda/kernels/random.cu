// Random kernels on the shared Philox stream (src/core/philox.h), the same functions the CPU
// kernels (src/cpu/random.cpp) call: element i is a function of (seed, offset, i) only, so the
// result does not depend on the grid and matches the CPU bit for bit.
//
// The arithmetic after the draw is the CPU's, in the same order and precision: double, then one
// conversion to the element type (float16/bfloat16 through float, as kiln::Half/BFloat16 do).
// nvcc would contract `a + b * u` into a fused multiply-add, which rounds once where the CPU
// rounds twice, so the products and sums use the explicit round-to-nearest intrinsics.
//
// Normal draws go through log and cos in double (Box-Muller in philox::normal). CUDA's double
// log/cos are accurate to 1-2 ulp but are not glibc's, so a float64 normal may differ from the
// CPU's in the last bits; after rounding to float32/16/bf16 the results agree except, with
// negligible probability, at a rounding boundary.
#include <string>
#include <type_traits>

// First: dtype.cuh names detail::concat unqualified, which must not find kiln::cuda::detail
// (declared by common/check.h).
#include "common/dtype.cuh"
//
#include "common/check.h"
#include "common/launch.cuh"
#include "core/philox.h"
#include "kernels/kernels.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace {

// out[i] = T(a + span * u), u uniform in [0, 1): 53 bits for float64, 24 bits otherwise.
template <class T>
__global__ void __launch_bounds__(kBlockSize)
    uniform_kernel(int64_t n, T* __restrict__ out, uint64_t seed, uint64_t offset, double a,
                   double span) {
  grid_stride(n, [&](int64_t i) {
    double u;
    if constexpr (std::is_same_v<T, double>)
      u = philox::uniform64(seed, offset, uint64_t(i));
    else
      u = double(philox::uniform32(seed, offset, uint64_t(i)));
    out[i] = convert<T>(__dadd_rn(a, __dmul_rn(span, u)));
  });
}

// out[i] = T(mean + std * z), z standard normal.
template <class T>
__global__ void __launch_bounds__(kBlockSize)
    normal_kernel(int64_t n, T* __restrict__ out, uint64_t seed, uint64_t offset, double mean,
                  double std) {
  grid_stride(n, [&](int64_t i) {
    const double z = philox::normal(seed, offset, uint64_t(i));
    out[i] = convert<T>(__dadd_rn(mean, __dmul_rn(std, z)));
  });
}

// out[i] = T(low + bits64 % range), uniform integers in [low, low + range).
template <class T>
__global__ void __launch_bounds__(kBlockSize)
    randint_kernel(int64_t n, T* __restrict__ out, uint64_t seed, uint64_t offset, int64_t low,
                   uint64_t range) {
  grid_stride(n, [&](int64_t i) {
    const uint64_t r = philox::bits64(seed, offset, uint64_t(i)) % range;
    out[i] = convert<T>(int64_t(low + int64_t(r)));
  });
}

// out[i] = 1 with probability probs[i], from a 24-bit uniform (the dropout mask).
template <class T>
__global__ void __launch_bounds__(kBlockSize)
    bernoulli_kernel(int64_t n, T* __restrict__ out, uint64_t seed, uint64_t offset,
                     const double* __restrict__ probs) {
  grid_stride(n, [&](int64_t i) {
    const bool one = double(philox::uniform32(seed, offset, uint64_t(i))) < probs[i];
    out[i] = convert<T>(one ? 1 : 0);
  });
}

}  // namespace

void random(OpId op, const Tensor& out, uint64_t seed, uint64_t offset, const OpParams& p,
            const Tensor& probs) {
  const char* name = op_name(op);
  KILN_CHECK(out.is_contiguous(), name, ": random kernels write a contiguous output, got shape ",
             shape_str(out.shape()), " with strides ", shape_str(out.strides()));
  if (op == OpId::Bernoulli) {
    KILN_CHECK(probs.defined() && probs.dtype() == DType::Float64 && probs.is_contiguous() &&
                   probs.numel() == out.numel() && probs.device() == out.device(),
               name, ": kernel expects contiguous float64 probabilities of the output's size on ",
               out.device().str(), ", got ",
               probs.defined()
                   ? ::kiln::detail::concat(dtype_name(probs.dtype()), " ",
                                            shape_str(probs.shape()), " on ", probs.device().str())
                   : std::string("none"));
  } else if (op == OpId::RandInt) {
    KILN_CHECK(int64_t(p.b) > int64_t(p.a), name, ": empty range [", int64_t(p.a), ", ",
               int64_t(p.b), ")");
  } else {
    KILN_CHECK(op == OpId::Uniform || op == OpId::Normal, name, ": not a random op");
  }
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = compute_stream(device);
  const unsigned grid = grid_size(n);
  dispatch_all(out.dtype(), [&]<class T>() {
    T* o = static_cast<T*>(out.data_ptr());
    switch (op) {
      case OpId::Uniform:  // [a, b)
        uniform_kernel<T><<<grid, kBlockSize, 0, stream>>>(n, o, seed, offset, p.a, p.b - p.a);
        break;
      case OpId::Normal:  // mean a, std b
        normal_kernel<T><<<grid, kBlockSize, 0, stream>>>(n, o, seed, offset, p.a, p.b);
        break;
      case OpId::RandInt:  // [a, b)
        randint_kernel<T><<<grid, kBlockSize, 0, stream>>>(n, o, seed, offset, int64_t(p.a),
                                                           uint64_t(int64_t(p.b) - int64_t(p.a)));
        break;
      default:  // Bernoulli
        bernoulli_kernel<T><<<grid, kBlockSize, 0, stream>>>(
            n, o, seed, offset, static_cast<const double*>(probs.data_ptr()));
        break;
    }
    KILN_CUDA_CHECK_LAUNCH(name);
  });
}

}  // namespace kiln::cuda
