// Softmax and log-softmax along one dim, numerically stable (the row maximum is subtracted
// before exponentiating). Computed in acc_t<T>: float for float32/16/bf16, double for float64.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>

#include "cpu/dispatch.h"
#include "cpu/kernels.h"
#include "cpu/loop.h"

namespace kiln::cpu {

void softmax(OpId op, const Tensor& x, int64_t dim, const Tensor& out) {
  KILN_CHECK(op == OpId::Softmax || op == OpId::LogSoftmax, op_name(op), ": no CPU softmax kernel");
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
  // Lanes: when the innermost other dim steps through memory faster than `dim` (softmax over
  // the channels of NCHW), up to kLanes neighbouring rows are processed together so that each
  // pass reads memory in order instead of one element per cache line.
  int64_t lane_n = 1, lx = 0, lo = 0;
  if (!size.empty() && sx.back() < xs) {
    lane_n = size.back();
    lx = sx.back();
    lo = so.back();
    size.pop_back();
    sx.pop_back();
    so.pop_back();
  }
  constexpr int64_t kLanes = 64;
  const int64_t chunks = (lane_n + kLanes - 1) / kLanes;
  const int64_t items = x.numel() / n / lane_n * chunks;
  const bool parallel = x.numel() >= kParallelGrain && items > 1;
  const bool log = op == OpId::LogSoftmax;

  dispatch_floating(x.dtype(), op_name(op), [&]<class T>() {
    using A = acc_t<T>;
    const T* xp = x.data<T>();
    T* op_ = out.data<T>();
#pragma omp parallel for if (parallel) schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t start = (item % chunks) * kLanes, L = std::min(kLanes, lane_n - start);
      int64_t xoff = start * lx, ooff = start * lo, rem = item / chunks;
      for (size_t k = size.size(); k-- > 0;) {
        const int64_t i = rem % size[k];
        rem /= size[k];
        xoff += i * sx[k];
        ooff += i * so[k];
      }
      const T* p = xp + xoff;
      T* q = op_ + ooff;
      auto in = [&](int64_t k, int64_t l) { return A(p[k * xs + l * lx]); };
      // The row maxima; a NaN anywhere makes the whole row NaN, as in PyTorch.
      std::array<A, kLanes> m, s;
      m.fill(-std::numeric_limits<A>::infinity());
      s.fill(A(0));
      for (int64_t k = 0; k < n; ++k)
        for (int64_t l = 0; l < L; ++l) {
          const A v = in(k, l);
          A& ml = m[size_t(l)];
          if (!std::isnan(ml) && (v > ml || std::isnan(v))) ml = v;
        }
      for (int64_t k = 0; k < n; ++k)
        for (int64_t l = 0; l < L; ++l) {
          const A e = std::exp(in(k, l) - m[size_t(l)]);
          // Full-precision output: keep the exponentials there and rescale them in place.
          if constexpr (std::is_same_v<T, A>) {
            if (!log) q[k * os + l * lo] = e;
          }
          s[size_t(l)] += e;
        }
      if (log) {
        for (int64_t l = 0; l < L; ++l) s[size_t(l)] = std::log(s[size_t(l)]);
        for (int64_t k = 0; k < n; ++k)
          for (int64_t l = 0; l < L; ++l)
            q[k * os + l * lo] = T((in(k, l) - m[size_t(l)]) - s[size_t(l)]);
      } else {
        for (int64_t k = 0; k < n; ++k)
          for (int64_t l = 0; l < L; ++l) {
            if constexpr (std::is_same_v<T, A>)
              q[k * os + l * lo] = q[k * os + l * lo] / s[size_t(l)];
            else
              q[k * os + l * lo] = T(std::exp(in(k, l) - m[size_t(l)]) / s[size_t(l)]);
          }
      }
    }
  });
}

}  // namespace kiln::cpu
