#pragma once
// Which instruction sets the CPU kernels may use beyond the baseline the library is built for.
// Kernels written for AVX-512 carry their own target attribute (the rest of the library stays
// portable) and are only called when avx512_enabled().

namespace kiln::cpu {

// The CPU has AVX-512 F, BW, DQ and VL (and FMA, which every such CPU has).
bool cpu_has_avx512();
// cpu_has_avx512() and the environment variable KILN_CPU_AVX512 is not 0 (set it to 0 to run the
// portable kernels, e.g. to compare the two).
bool avx512_enabled();

}  // namespace kiln::cpu
