// The fused norm of a list of tensors (clip_grad_norm_): sum over every element of |x|^p, or the
// largest |x| for p = +inf, in double. The reference for the CUDA kernel of the same name; it is
// the composite "sum over tensors of norm(x, p)^p" computed in one pass.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/kernels.h"

namespace kiln::cpu {

namespace {

template <class T>
double to_double(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
    return double(float(v));
  else
    return double(v);
}

// Visits every element of x (any strides) in row-major order.
template <class T, class F>
void for_each_element(const Tensor& x, F&& f) {
  const int64_t n = x.numel();
  if (n == 0) return;
  const T* base = x.data<T>();
  if (x.is_contiguous()) {
    for (int64_t i = 0; i < n; ++i) f(base[i]);
    return;
  }
  const int64_t nd = x.dim();
  std::vector<int64_t> idx(size_t(nd), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(base[off]);
    for (int64_t d = nd; d-- > 0;) {  // odometer step
      off += x.strides()[size_t(d)];
      if (++idx[size_t(d)] < x.shape()[size_t(d)]) break;
      off -= x.strides()[size_t(d)] * x.shape()[size_t(d)];
      idx[size_t(d)] = 0;
    }
  }
}

}  // namespace

void norm_of_tensors(const std::vector<Tensor>& xs, double p, const Tensor& out) {
  KILN_CHECK(out.numel() == 1 && out.dtype() == DType::Float64, "norm_of_tensors: expected a ",
             "1-element float64 output, got ", dtype_name(out.dtype()), " of shape ",
             shape_str(out.shape()));
  KILN_CHECK(p > 0, "norm_of_tensors: p must be positive or +inf, got ", p);
  for (size_t i = 0; i < xs.size(); ++i) {
    KILN_CHECK(xs[i].defined(), "norm_of_tensors: tensor ", i, " is undefined");
    KILN_CHECK(is_floating(xs[i].dtype()) && xs[i].dtype() == xs[0].dtype(),
               "norm_of_tensors: expected tensors of one floating dtype, got ",
               dtype_name(xs[0].dtype()), " (tensor 0) and ", dtype_name(xs[i].dtype()),
               " (tensor ", i, ", shape ", shape_str(xs[i].shape()), ")");
  }
  const bool inf = std::isinf(p);
  // The max of |x| starts at 0 (the norm of no elements), and a NaN, once met, stays.
  double acc = 0;
  for (const Tensor& x : xs) {
    dispatch_floating(x.dtype(), "norm_of_tensors", [&]<class T>() {
      for_each_element<T>(x, [&](T v) {
        const double a = std::fabs(to_double(v));
        if (inf) {
          if (std::isnan(a) || std::isnan(acc))
            acc = std::numeric_limits<double>::quiet_NaN();
          else if (a > acc)
            acc = a;
        } else if (p == 1) {
          acc += a;
        } else if (p == 2) {
          acc += a * a;
        } else {
          acc += std::pow(a, p);
        }
      });
    });
  }
  *out.data<double>() = acc;
}

}  // namespace kiln::cpu
