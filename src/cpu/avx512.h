#pragma once
// What the AVX-512 kernels (sgemm.cpp, conv_winograd_avx512.cpp) share; include it only in
// them. Each of their functions carries KILN_AVX512, so the rest of the library stays built for
// the baseline CPU; they run only when avx512_enabled() (cpu/isa.h).

// GCC 12's AVX-512 intrinsics start from a deliberately undefined register, which its own
// -W(maybe-)uninitialized then reports (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>

#define KILN_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

namespace kiln::cpu {

// The mask of lanes l < count (of 16).
KILN_AVX512 inline __mmask16 first_lanes(int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1);
}

// Loads and stores of the lanes in m. Masked ones cost more than plain ones on AMD's Zen 4/5 even
// with every lane on, so a full mask takes the plain instruction.
KILN_AVX512 inline __m512 load_lanes(__mmask16 m, const float* p) {
  return m == 0xFFFF ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}
KILN_AVX512 inline void store_lanes(float* p, __mmask16 m, __m512 v) {
  if (m == 0xFFFF)
    _mm512_storeu_ps(p, v);
  else
    _mm512_mask_storeu_ps(p, m, v);
}

}  // namespace kiln::cpu
