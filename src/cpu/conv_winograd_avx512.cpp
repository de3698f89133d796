// The Winograd input and output transforms (see conv_winograd.cpp) with AVX-512: 16 tiles of a
// row of tiles at a time, one tile per lane.
//
// Why: the portable transforms go through padded row copies and even/odd splits one row
// operation at a time; on the 2-core Zen 5 CI machine they, with their copies, took a quarter
// of the small-ResNet training step. Here a tile row's input is read with masked loads (the
// masked-off lanes are the zero padding and are never touched), split into even and odd
// columns with one permute each, and every one of the 16 transformed values of 16 tiles is one
// register: about an eighth of the instructions.
#include "cpu/avx512.h"
#include "cpu/conv_winograd.h"

namespace kiln::cpu {
namespace {

// The lanes whose column start + l lies in [0, width).
KILN_AVX512 inline __mmask16 columns_inside(int64_t start, int64_t width) {
  const __mmask16 below_end = first_lanes(width - start);
  const __mmask16 before_start = first_lanes(-start);
  return __mmask16(below_end & ~before_start);
}

// The four loads of a tile row's input row: columns [col, col + 32) and [col + 2, col + 34),
// lanes outside the input masked off.
struct RowMasks {
  __mmask16 a0, a1, b0, b1;
};

// One input row of 16 tiles times B (r_j combines the row's columns 2t + j), zeros for a row
// in the padding (every lane masked off: nothing is read).
KILN_AVX512 inline void row_times_b(const float* row, int64_t col, const RowMasks& m, bool inside,
                                    __m512i even, __m512i odd, __m512& r0, __m512& r1, __m512& r2,
                                    __m512& r3) {
  const __mmask16 keep = inside ? __mmask16(0xFFFF) : __mmask16(0);
  const __m512 a0 = load_lanes(__mmask16(m.a0 & keep), row + col);
  const __m512 a1 = load_lanes(__mmask16(m.a1 & keep), row + col + 16);
  const __m512 b0 = load_lanes(__mmask16(m.b0 & keep), row + col + 2);
  const __m512 b1 = load_lanes(__mmask16(m.b1 & keep), row + col + 18);
  const __m512 d0 = _mm512_permutex2var_ps(a0, even, a1);  // column 2t
  const __m512 d1 = _mm512_permutex2var_ps(a0, odd, a1);   // 2t + 1
  const __m512 d2 = _mm512_permutex2var_ps(b0, even, b1);  // 2t + 2
  const __m512 d3 = _mm512_permutex2var_ps(b0, odd, b1);   // 2t + 3
  r0 = _mm512_sub_ps(d0, d2);
  r1 = _mm512_add_ps(d1, d2);
  r2 = _mm512_sub_ps(d2, d1);
  r3 = _mm512_sub_ps(d1, d3);
}

}  // namespace

KILN_AVX512 void winograd_input_avx512(const Winograd3x3& g, const float* x, int64_t n0, int64_t nb,
                                       int64_t c0, int64_t cg, float* v) {
  const int64_t th = (g.oh + 1) / 2, tw = (g.ow + 1) / 2, tiles = nb * th * tw;
  const int64_t plane = g.h * g.w, stride_xi = cg * tiles;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int64_t tx0 = 0; tx0 < tw; tx0 += 16) {
    const __mmask16 store = first_lanes(tw - tx0);
    const int64_t col = 2 * tx0 - g.pw;  // the first tile's first input column
    const RowMasks m{columns_inside(col, g.w), columns_inside(col + 16, g.w),
                     columns_inside(col + 2, g.w), columns_inside(col + 18, g.w)};
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t s = 0; s < nb; ++s) {
        const float* xp = x + ((n0 + s) * g.c + c0 + c) * plane;
        float* out = v + c * tiles + s * th * tw + tx0;
        for (int64_t ty = 0; ty < th; ++ty, out += tw) {
          // r[i][j]: input row i of the tiles times B, for 16 tiles; then B^T across the rows.
          const int64_t y0 = 2 * ty - g.ph;
          __m512 r[4][4];
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i)
            row_times_b(xp + (y0 + i) * g.w, col, m, y0 + i >= 0 && y0 + i < g.h, even, odd,
                        r[i][0], r[i][1], r[i][2], r[i][3]);
#pragma GCC unroll 4
          for (int j = 0; j < 4; ++j) {
            store_lanes(out + (0 * 4 + j) * stride_xi, store, _mm512_sub_ps(r[0][j], r[2][j]));
            store_lanes(out + (1 * 4 + j) * stride_xi, store, _mm512_add_ps(r[1][j], r[2][j]));
            store_lanes(out + (2 * 4 + j) * stride_xi, store, _mm512_sub_ps(r[2][j], r[1][j]));
            store_lanes(out + (3 * 4 + j) * stride_xi, store, _mm512_sub_ps(r[1][j], r[3][j]));
          }
        }
      }
  }
}

KILN_AVX512 void winograd_output_avx512(const Winograd3x3& g, const float* m, int64_t n0,
                                        int64_t nb, int64_t o0, int64_t ocg, float* y) {
  const int64_t th = (g.oh + 1) / 2, tw = (g.ow + 1) / 2, tiles = nb * th * tw;
  const int64_t plane = g.oh * g.ow, stride_xi = ocg * tiles;
  // Interleaving 16 even and 16 odd outputs into 32 consecutive columns.
  const __m512i low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i high = _mm512_add_epi32(low, _mm512_set1_epi32(8));
  for (int64_t o = 0; o < ocg; ++o)
    for (int64_t s = 0; s < nb; ++s) {
      float* yp = y + ((n0 + s) * g.oc + o0 + o) * plane;
      const float* mo = m + o * tiles + s * th * tw;
      for (int64_t ty = 0; ty < th; ++ty)
        for (int64_t tx0 = 0; tx0 < tw; tx0 += 16) {
          const __mmask16 load = first_lanes(tw - tx0);
          const float* q = mo + ty * tw + tx0;
          // t[i][j] = (A^T m)[i][j]: row 0 = m0 + m1 + m2, row 1 = m1 - m2 - m3.
          __m512 t[2][4];
          for (int j = 0; j < 4; ++j) {
            const __m512 q0 = load_lanes(load, q + (0 + j) * stride_xi);
            const __m512 q1 = load_lanes(load, q + (4 + j) * stride_xi);
            const __m512 q2 = load_lanes(load, q + (8 + j) * stride_xi);
            const __m512 q3 = load_lanes(load, q + (12 + j) * stride_xi);
            t[0][j] = _mm512_add_ps(_mm512_add_ps(q0, q1), q2);
            t[1][j] = _mm512_sub_ps(_mm512_sub_ps(q1, q2), q3);
          }
          const int64_t col = 2 * tx0;
          const __mmask16 lo_cols = first_lanes(g.ow - col), hi_cols = first_lanes(g.ow - col - 16);
          for (int i = 0; i < 2 && 2 * ty + i < g.oh; ++i) {
            const __m512 e = _mm512_add_ps(_mm512_add_ps(t[i][0], t[i][1]), t[i][2]);
            const __m512 d = _mm512_sub_ps(_mm512_sub_ps(t[i][1], t[i][2]), t[i][3]);
            float* row = yp + (2 * ty + i) * g.ow + col;
            store_lanes(row, lo_cols, _mm512_permutex2var_ps(e, low, d));
            store_lanes(row + 16, hi_cols, _mm512_permutex2var_ps(e, high, d));
          }
        }
    }
}

KILN_AVX512 void winograd_grad_output_avx512(const Winograd3x3& g, const float* dy, int64_t n0,
                                             int64_t nb, int64_t o0, int64_t ocg, float* q) {
  const int64_t th = (g.oh + 1) / 2, tw = (g.ow + 1) / 2, tiles = nb * th * tw;
  const int64_t plane = g.oh * g.ow, stride_xi = ocg * tiles;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int64_t tx0 = 0; tx0 < tw; tx0 += 16) {
    const __mmask16 store = first_lanes(tw - tx0);
    const int64_t col = 2 * tx0;  // the first tile's first column
    const __mmask16 lo = first_lanes(g.ow - col), hi = first_lanes(g.ow - col - 16);
    for (int64_t o = 0; o < ocg; ++o)
      for (int64_t s = 0; s < nb; ++s) {
        const float* yp = dy + ((n0 + s) * g.oc + o0 + o) * plane + col;
        float* out = q + o * tiles + s * th * tw + tx0;
        for (int64_t ty = 0; ty < th; ++ty, out += tw) {
          // A tile {a b; c d}: rows 2ty and 2ty + 1 (zeros beyond the output), even and odd
          // columns.
          const float* r0 = yp + 2 * ty * g.ow;
          const __mmask16 keep = 2 * ty + 1 < g.oh ? __mmask16(0xFFFF) : __mmask16(0);
          const __m512 x0 = load_lanes(lo, r0), x1 = load_lanes(hi, r0 + 16);
          const __m512 y0 = load_lanes(__mmask16(lo & keep), r0 + g.ow);
          const __m512 y1 = load_lanes(__mmask16(hi & keep), r0 + g.ow + 16);
          const __m512 a = _mm512_permutex2var_ps(x0, even, x1),
                       b = _mm512_permutex2var_ps(x0, odd, x1);
          const __m512 c = _mm512_permutex2var_ps(y0, even, y1),
                       d = _mm512_permutex2var_ps(y0, odd, y1);
          // Row i of A dy as {u, v}: {a, b}, {a + c, b + d}, {a - c, b - d}, {-c, -d}; times A^T:
          // {u, u + v, u - v, -v}.
          const __m512 zero = _mm512_setzero_ps();
          const __m512 u[4] = {a, _mm512_add_ps(a, c), _mm512_sub_ps(a, c), _mm512_sub_ps(zero, c)};
          const __m512 v[4] = {b, _mm512_add_ps(b, d), _mm512_sub_ps(b, d), _mm512_sub_ps(zero, d)};
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {
            store_lanes(out + (i * 4 + 0) * stride_xi, store, u[i]);
            store_lanes(out + (i * 4 + 1) * stride_xi, store, _mm512_add_ps(u[i], v[i]));
            store_lanes(out + (i * 4 + 2) * stride_xi, store, _mm512_sub_ps(u[i], v[i]));
            store_lanes(out + (i * 4 + 3) * stride_xi, store, _mm512_sub_ps(zero, v[i]));
          }
        }
      }
  }
}

}  // namespace kiln::cpu
