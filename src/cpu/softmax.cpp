// Softmax and log-softmax along one dim, numerically stable (the row maximum is subtracted
// before exponentiating). Computed in acc_t<T>: float for float32/16/bf16, double for float64.
#include <cmath>
#include <limits>
#include <type_traits>

#include "cpu/dispatch.h"
#include "cpu/kernels.h"
#include "cpu/loop.h"

namespace kiln::cpu {

void softmax(OpId op, const Tensor& x, int64_t dim, const Tensor& out) {
  KILN_CHECK(op == OpId::Softmax || op == OpId::LogSoftmax, op_name(op),
             ": no CPU softmax kernel");
  KILN_CHECK(x.shape() == out.shape() && x.dtype() == out.dtype(), op_name(op),
             ": softmax kernel expects an output like the input, got ", shape_str(x.shape()),
             " and ", shape_str(out.shape()));
  if (x.numel() == 0) return;
  // A 0-d tensor is a row of one element.
  const bool scalar = x.dim() == 0;
  KILN_CHECK(scalar ? dim == 0 : dim >= 0 && dim < x.dim(), op_name(op), ": dim ", dim,
             " out of range for shape ", shape_str(x.shape()));
  const int64_t n = scalar ? 1 : x.shape()[size_t(dim)];
  const int64_t xs = scalar ? 0 : x.strides()[size_t(dim)];
  const int64_t os = scalar ? 0 : out.strides()[size_t(dim)];
  std::vector<int64_t> size, sx, so;  // the other dims
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == dim || x.shape()[size_t(d)] == 1) continue;
    size.push_back(x.shape()[size_t(d)]);
    sx.push_back(x.strides()[size_t(d)]);
    so.push_back(out.strides()[size_t(d)]);
  }
  const int64_t rows = x.numel() / n;
  const bool parallel = x.numel() >= kParallelGrain && rows > 1;
  const bool log = op == OpId::LogSoftmax;

  dispatch_floating(x.dtype(), op_name(op), [&]<class T>() {
    using A = acc_t<T>;
    const T* xp = x.data<T>();
    T* op_ = out.data<T>();
#pragma omp parallel for if (parallel) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t xoff = 0, ooff = 0, rem = r;
      for (size_t k = size.size(); k-- > 0;) {
        const int64_t i = rem % size[k];
        rem /= size[k];
        xoff += i * sx[k];
        ooff += i * so[k];
      }
      const T* p = xp + xoff;
      T* q = op_ + ooff;
      // The maximum; a NaN anywhere makes the whole row NaN, as in PyTorch.
      A m = -std::numeric_limits<A>::infinity();
      for (int64_t k = 0; k < n; ++k) {
        const A v = A(p[k * xs]);
        if (v > m || std::isnan(v)) m = v;
        if (std::isnan(m)) break;
      }
      A s = 0;
      if constexpr (std::is_same_v<T, A>) {
        // Full-precision output: keep the exponentials there and rescale in place.
        for (int64_t k = 0; k < n; ++k) {
          const A e = std::exp(A(p[k * xs]) - m);
          if (!log) q[k * os] = e;
          s += e;
        }
      } else {
        for (int64_t k = 0; k < n; ++k) s += std::exp(A(p[k * xs]) - m);
      }
      if (log) {
        const A ls = std::log(s);
        for (int64_t k = 0; k < n; ++k) q[k * os] = T((A(p[k * xs]) - m) - ls);
      } else if constexpr (std::is_same_v<T, A>) {
        for (int64_t k = 0; k < n; ++k) q[k * os] = q[k * os] / s;
      } else {
        for (int64_t k = 0; k < n; ++k) q[k * os] = T(std::exp(A(p[k * xs]) - m) / s);
      }
    }
  });
}

}  // namespace kiln::cpu
