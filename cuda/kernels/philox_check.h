#pragma once
// Draws from the shared Philox generator on the GPU, for the test that compares them bit for bit
// with the CPU's (src/core/philox.h). Plain C++ header.
#include <cstdint>

namespace kiln::cuda {

// host_out[i] = philox::uniform32(seed, offset, i) for i in [0, n), computed on the current
// device and copied back to host memory.
void philox_uniform_cuda(float* host_out, uint64_t n, uint64_t seed, uint64_t offset);

}  // namespace kiln::cuda
