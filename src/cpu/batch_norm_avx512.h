#pragma once
// The per-channel sums of the fused batch norm (src/cpu/batch_norm.cpp) over one run of float32
// values with AVX-512, used when avx512_enabled() (cpu/isa.h). Each value is widened to double
// and summed in 16 interleaved double lanes (two registers), combined in a fixed order, so the
// result depends only on the data, never on the threads.
#include <array>
#include <cstdint>

namespace kiln::cpu {

// {sum of x[j], sum of x[j]^2} for j < len.
std::array<double, 2> sum_and_squares_avx512(const float* x, int64_t len);
// {sum of dy[j], sum of dy[j] * (x[j] - mean)} for j < len.
std::array<double, 2> sum_and_centered_dot_avx512(const float* dy, const float* x, double mean,
                                                  int64_t len);

}  // namespace kiln::cpu
