#pragma once
// Winograd F(2x2, 3x3) for float32 3x3 convolutions with stride 1 and dilation 1
// (src/cpu/conv_winograd.cpp), the shape of most layers of a ResNet/VGG: 16 multiplications per
// 2x2 output tile instead of 36, as 16 matrix products. Used by the convolution kernels in
// src/cpu/conv.cpp for the forward, the data gradient (through the flipped kernel) and the
// weight gradient.
#include <cstdint>

namespace kiln::cpu {

struct Winograd3x3 {
  int64_t n = 0, c = 0, oc = 0, groups = 1;  // batch, input and output channels
  int64_t h = 0, w = 0, oh = 0, ow = 0;      // input and output plane
  int64_t ph = 0, pw = 0;                    // padding before (top, left)
};

// Whether the Winograd path pays off: enough channels per group for the 16 products to be
// matrix products rather than dot products.
bool winograd_worthwhile(int64_t channels_per_group, int64_t out_channels_per_group);

// y [N, OC, OH, OW] = conv(x [N, C, H, W], w [OC, C / groups, 3, 3]), all contiguous float.
// With `batch_parallel` the samples are split across OpenMP threads (BLAS single-threaded in
// them); otherwise BLAS runs its own threads.
void winograd_conv3x3(const Winograd3x3& g, const float* x, const float* w, float* y,
                      bool batch_parallel);
// dw [OC, C / groups, 3, 3] = the weight gradient of that convolution for dy [N, OC, OH, OW]:
// the adjoint of each transform, 16 products per group summed over the tiles of every sample.
void winograd_conv3x3_weight_grad(const Winograd3x3& g, const float* x, const float* dy, float* dw,
                                  bool batch_parallel);

// The input and output transforms with AVX-512 (conv_winograd_avx512.cpp), used when
// avx512_enabled() (cpu/isa.h). V [16][Cg][T] for channels [c0, c0 + cg) of samples
// [n0, n0 + nb) of x; y for output channels [o0, o0 + ocg) of those samples from M [16][OCg][T].
void winograd_input_avx512(const Winograd3x3& g, const float* x, int64_t n0, int64_t nb, int64_t c0,
                           int64_t cg, float* v);
void winograd_output_avx512(const Winograd3x3& g, const float* m, int64_t n0, int64_t nb,
                            int64_t o0, int64_t ocg, float* y);
// Q [16][OCg][T] = A dy A^T per tile (the adjoint of the output transform) for output channels
// [o0, o0 + ocg) of samples [n0, n0 + nb).
void winograd_grad_output_avx512(const Winograd3x3& g, const float* dy, int64_t n0, int64_t nb,
                                 int64_t o0, int64_t ocg, float* q);

}  // namespace kiln::cpu
