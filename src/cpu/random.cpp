// Random kernels on the shared Philox stream (src/core/philox.h): element i is a function of
// (seed, offset, i) only, so results do not depend on threading and match the CUDA kernels.
#include <cmath>

#include "core/philox.h"
#include "cpu/dispatch.h"
#include "cpu/kernels.h"

namespace kiln::cpu {

void random(OpId op, const Tensor& out, uint64_t seed, uint64_t offset, const OpParams& p,
            const Tensor& probs) {
  const int64_t n = out.numel();
  dispatch_all(out.dtype(), [&]<class T>() {
    T* o = out.data<T>();
    switch (op) {
      case OpId::Uniform:  // [a, b)
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; ++i) {
          double u = std::is_same_v<T, double> ? philox::uniform64(seed, offset, uint64_t(i))
                                               : philox::uniform32(seed, offset, uint64_t(i));
          o[i] = T(p.a + (p.b - p.a) * u);
        }
        return;
      case OpId::Normal:  // mean a, std b
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; ++i)
          o[i] = T(p.a + p.b * philox::normal(seed, offset, uint64_t(i)));
        return;
      case OpId::RandInt: {  // [a, b)
        const uint64_t range = uint64_t(int64_t(p.b) - int64_t(p.a));
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; ++i)
          o[i] = T(int64_t(p.a) + int64_t(philox::bits64(seed, offset, uint64_t(i)) % range));
        return;
      }
      case OpId::Bernoulli: {  // 1 with probability probs[i] (probs contiguous float64)
        const double* pr = probs.data<double>();
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; ++i)
          o[i] = T(double(philox::uniform32(seed, offset, uint64_t(i))) < pr[i] ? 1 : 0);
        return;
      }
      default:
        throw Error(detail::concat(op_name(op), ": not a random op"));
    }
  });
}

}  // namespace kiln::cpu
