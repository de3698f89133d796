// Strided copies with dtype conversion, fill and arange.
#include <cmath>
#include <limits>

#include "cpu/kernels.h"
#include "cpu/map.h"

namespace kiln::cpu {

namespace {
// Conversion through the widest type of the pair: integers stay exact up to 2^63.
template <class From, class To>
To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return double(v) != 0.0;
  } else if constexpr (std::is_integral_v<From> && std::is_integral_v<To>) {
    return To(v);
  } else if constexpr (std::is_integral_v<To>) {
    // float -> int truncates toward zero, through int64 so that negative values wrap into
    // uint8 like PyTorch; out-of-range values saturate instead of being undefined.
    double d = double(v);
    if (!(d > -9.2233720368547758e18)) return To(std::numeric_limits<int64_t>::min());
    if (!(d < 9.2233720368547758e18)) return To(std::numeric_limits<int64_t>::max());
    return To(int64_t(d));
  } else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>) {
    return To(float(v));
  } else {
    if constexpr (std::is_integral_v<From>)
      return To(v);
    else
      return To(double(v));
  }
}
}  // namespace

void copy(const Tensor& src, const Tensor& dst) {
  dispatch_all(src.dtype(), [&]<class S>() {
    dispatch_all(dst.dtype(), [&]<class D>() {
      for_each_strided<2>({&dst, &src},
                          [](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
                            if constexpr (std::is_same_v<S, D>) {
                              if (s[0] == sizeof(D) && s[1] == sizeof(S)) {
                                std::memcpy(p[0], p[1], size_t(n) * sizeof(D));
                                return;
                              }
                            }
                            for (int64_t i = 0; i < n; ++i)
                              *reinterpret_cast<D*>(p[0] + i * s[0]) =
                                  convert<S, D>(*reinterpret_cast<const S*>(p[1] + i * s[1]));
                          });
    });
  });
}

void fill(const Tensor& dst, Scalar value) {
  dispatch_all(dst.dtype(), [&]<class T>() {
    T v;
    if constexpr (std::is_same_v<T, bool>)
      v = value.to_double() != 0.0;
    else if constexpr (std::is_integral_v<T>)
      v = T(value.to_int());
    else
      v = T(value.to_double());
    for_each_strided<1>({&dst}, [v](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = v;
    });
  });
}

void arange(const Tensor& out, double start, double step) {
  dispatch_all(out.dtype(), [&]<class T>() {
    T* o = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) {
      double v = start + double(i) * step;
      if constexpr (std::is_same_v<T, bool>)
        o[i] = v != 0.0;
      else if constexpr (std::is_integral_v<T>)
        o[i] = T(std::llround(v));
      else
        o[i] = T(v);
    }
  });
}

}  // namespace kiln::cpu
