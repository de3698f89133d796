#pragma once
// 128-bit vector access for the contiguous fast paths of the elementwise kernels: a Pack of
// 16 / sizeof(T) elements is loaded and stored with one ld.global.v4 / st.global.v4, which is
// what lets a memory-bound kernel reach the bandwidth of a device-to-device copy. Callers check
// alignment on the host (is_aligned) and fall back to the scalar kernel otherwise.
#include <cstdint>
#include <type_traits>

#include "common/dtype.cuh"

namespace kiln::cuda {

inline constexpr int kVecBytes = 16;

// Elements of T per 128-bit access: 4 floats, 8 halves or bfloat16s.
template <class T>
inline constexpr int kVecWidth = kVecBytes / int(sizeof(T));

// The element types that take the vector path (float32 and the 16-bit floats: the training
// dtypes; float64 and integers keep the plain path to bound the number of kernels compiled).
template <class T>
inline constexpr bool is_vectorizable_v = std::is_same_v<T, float> || is_reduced_float_v<T>;

// N elements aligned as one access of sizeof(T) * N bytes.
template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T val[N];
};

template <class T>
using Vec = Pack<T, kVecWidth<T>>;

// Whether p is aligned for a 128-bit access (a view that starts mid-storage, e.g.
// x.narrow(0, 1, n - 1), is not).
inline bool is_aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % uintptr_t(kVecBytes) == 0;
}

}  // namespace kiln::cuda
