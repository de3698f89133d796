// Winograd F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks"):
// each 2x2 output tile is Y = A^T [(G g G^T) * (B^T d B)] A, d being the 4x4 input tile under it
// and * the elementwise product. Summing over input channels turns the 16 elementwise products
// into 16 matrix products per group:
//   M[xi] [OCg, T] = U[xi] [OCg, Cg] @ V[xi] [Cg, T],  U = G g G^T,  V = B^T d B,
// T being the tiles of a block of samples. With the transforms
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1]
// the multiplications are 16 / 36 of im2col + GEMM's. The transforms only add, subtract and
// halve, so the float32 error stays of the order of the direct sum's (measured against PyTorch
// on 64-channel layers: relative errors below 2e-6, forward and both gradients).
#include "cpu/conv_winograd.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "cpu/host_cache.h"
#include "cpu/isa.h"
#include "cpu/sgemm.h"

namespace kiln::cpu {
namespace {

// Tiles per block of samples: small planes (8x8 has 16 tiles) are batched over samples so that
// the products are not tiny, but a block's V and M ([16, channels, tiles]) stay in cache
// (measured on a 2-core AVX-512 machine: 64 beat 16, 128 and 256).
constexpr int64_t kTileTarget = 64;

// U [groups][16][OCg][Cg] from w [OC, Cg, 3, 3].
void transform_weights(const Winograd3x3& g, const float* w, HostScratch<float>& u) {
  const int64_t cg = g.c / g.groups, ocg = g.oc / g.groups;
  u.grow(size_t(16 * g.oc * cg));
  for (int64_t o = 0; o < g.oc; ++o)
    for (int64_t c = 0; c < cg; ++c) {
      const float* k = w + (o * cg + c) * 9;
      float gg[4][3];  // G g
      for (int j = 0; j < 3; ++j) {
        gg[0][j] = k[j];
        gg[1][j] = 0.5f * (k[j] + k[3 + j] + k[6 + j]);
        gg[2][j] = 0.5f * (k[j] - k[3 + j] + k[6 + j]);
        gg[3][j] = k[6 + j];
      }
      const int64_t grp = o / ocg, oo = o % ocg;
      float* base = u.data() + grp * 16 * ocg * cg + oo * cg + c;
      for (int i = 0; i < 4; ++i) {
        const float r[4] = {gg[i][0], 0.5f * (gg[i][0] + gg[i][1] + gg[i][2]),
                            0.5f * (gg[i][0] - gg[i][1] + gg[i][2]), gg[i][2]};
        for (int j = 0; j < 4; ++j) base[(i * 4 + j) * ocg * cg] = r[j];
      }
    }
}

// Per-thread rows the transforms work on, sized once per call.
struct Scratch {
  HostScratch<float> rows;
  explicit Scratch(const Winograd3x3& g) : rows(size_t(24 * ((g.ow + 1) / 2 + 2))) {}
};

// Row operations over n floats. Separate functions with __restrict operands, so that the
// compiler vectorises them (it cannot prove that rows of one buffer do not overlap).
void add(float* __restrict out, const float* __restrict a, const float* __restrict b, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = a[k] + b[k];
}
void sub(float* __restrict out, const float* __restrict a, const float* __restrict b, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = a[k] - b[k];
}
// out = a + b + c
void add3(float* __restrict out, const float* __restrict a, const float* __restrict b,
          const float* __restrict c, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = a[k] + b[k] + c[k];
}
// out = a - b - c
void sub3(float* __restrict out, const float* __restrict a, const float* __restrict b,
          const float* __restrict c, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = a[k] - b[k] - c[k];
}
// even[k] = r[2k], odd[k] = r[2k + 1] for k < n
void deinterleave(float* __restrict even, float* __restrict odd, const float* __restrict r,
                  int64_t n) {
  for (int64_t k = 0; k < n; ++k) {
    even[k] = r[2 * k];
    odd[k] = r[2 * k + 1];
  }
}
// out[2k] = even[k], out[2k + 1] = odd[k] for k < n
void interleave(float* __restrict out, const float* __restrict even, const float* __restrict odd,
                int64_t n) {
  for (int64_t k = 0; k < n; ++k) {
    out[2 * k] = even[k];
    out[2 * k + 1] = odd[k];
  }
}

// V [16][Cg][T] for channels [c0, c0 + Cg) of samples [n0, n0 + nb). Whole rows of tiles are
// transformed at once so that every loop runs over consecutive tiles (vectorised): with the
// tile row's 4 input rows P (zero-padded: tile tx starts at column 2 tx of P), B^T d gives rows
// r = {P0 - P2, P1 + P2, P2 - P1, P1 - P3}; splitting each r into even (E) and odd (O) columns,
// row i of V's tile is {E[tx] - E[tx+1], O[tx] + E[tx+1], E[tx+1] - O[tx], O[tx] - O[tx+1]}.
void transform_input(const Winograd3x3& g, const float* x, int64_t n0, int64_t nb, int64_t c0,
                     int64_t cg, float* v, Scratch& scratch) {
  if (avx512_enabled()) {
    winograd_input_avx512(g, x, n0, nb, c0, cg, v);
    return;
  }
  const int64_t th = (g.oh + 1) / 2, tw = (g.ow + 1) / 2, tiles = nb * th * tw;
  const int64_t plane = g.h * g.w, stride_xi = cg * tiles, half = tw + 1, width = 2 * half;
  float* p = scratch.rows.data();  // P0..P3, width each
  float* r = p + 4 * width;        // r0..r3, width each
  float* eo = r + 4 * width;       // E0, O0, E1, O1, ... (half each)
  // The columns of P that hold input values: [lo, hi) of P, input column = P column - pw.
  const int64_t lo = std::min(g.pw, width), hi = std::min(width, g.w + g.pw);
  for (int64_t c = 0; c < cg; ++c)
    for (int64_t s = 0; s < nb; ++s) {
      const float* xp = x + ((n0 + s) * g.c + c0 + c) * plane;
      float* vc = v + c * tiles + s * th * tw;
      for (int64_t ty = 0; ty < th; ++ty) {
        for (int64_t i = 0; i < 4; ++i) {
          float* row = p + i * width;
          const int64_t yy = 2 * ty - g.ph + i;
          if (yy < 0 || yy >= g.h || hi <= lo) {
            std::fill(row, row + width, 0.0f);
            continue;
          }
          std::fill(row, row + lo, 0.0f);
          std::memcpy(row + lo, xp + yy * g.w + lo - g.pw, size_t(hi - lo) * sizeof(float));
          std::fill(row + hi, row + width, 0.0f);
        }
        const float *p0 = p, *p1 = p + width, *p2 = p + 2 * width, *p3 = p + 3 * width;
        sub(r, p0, p2, width);
        add(r + width, p1, p2, width);
        sub(r + 2 * width, p2, p1, width);
        sub(r + 3 * width, p1, p3, width);
        for (int64_t i = 0; i < 4; ++i)
          deinterleave(eo + 2 * i * half, eo + (2 * i + 1) * half, r + i * width, half);
        float* out = vc + ty * tw;
        for (int64_t i = 0; i < 4; ++i) {
          const float* E = eo + 2 * i * half;
          const float* O = E + half;
          sub(out + (i * 4 + 0) * stride_xi, E, E + 1, tw);
          add(out + (i * 4 + 1) * stride_xi, O, E + 1, tw);
          sub(out + (i * 4 + 2) * stride_xi, E + 1, O, tw);
          sub(out + (i * 4 + 3) * stride_xi, O, O + 1, tw);
        }
      }
    }
}

// y for output channels [o0, o0 + ocg) of samples [n0, n0 + nb) from M [16][OCg][T], a row of
// tiles at a time: with m_r the tile's row r, A^T m = {m0 + m1 + m2, m1 - m2 - m3} and output
// row i of the tile is {t_i[0] + t_i[1] + t_i[2], t_i[1] - t_i[2] - t_i[3]}.
void transform_output(const Winograd3x3& g, const float* m, int64_t n0, int64_t nb, int64_t o0,
                      int64_t ocg, float* y, Scratch& scratch) {
  if (avx512_enabled()) {
    winograd_output_avx512(g, m, n0, nb, o0, ocg, y);
    return;
  }
  const int64_t th = (g.oh + 1) / 2, tw = (g.ow + 1) / 2, tiles = nb * th * tw;
  const int64_t plane = g.oh * g.ow, stride_xi = ocg * tiles;
  float* t = scratch.rows.data();  // t_i[j] at t + (4 i + j) tw, then the even / odd outputs
  float* even = t + 8 * tw;
  float* odd = even + tw;
  float* line = odd + tw;  // 2 tw: a full output row before it is cut to ow
  for (int64_t o = 0; o < ocg; ++o)
    for (int64_t s = 0; s < nb; ++s) {
      float* yp = y + ((n0 + s) * g.oc + o0 + o) * plane;
      const float* mo = m + o * tiles + s * th * tw;
      for (int64_t ty = 0; ty < th; ++ty) {
        const float* q = mo + ty * tw;
        for (int64_t j = 0; j < 4; ++j) {
          add3(t + j * tw, q + j * stride_xi, q + (4 + j) * stride_xi, q + (8 + j) * stride_xi, tw);
          sub3(t + (4 + j) * tw, q + (4 + j) * stride_xi, q + (8 + j) * stride_xi,
               q + (12 + j) * stride_xi, tw);
        }
        for (int64_t i = 0; i < 2 && 2 * ty + i < g.oh; ++i) {
          const float* ti = t + 4 * i * tw;
          add3(even, ti, ti + tw, ti + 2 * tw, tw);
          sub3(odd, ti + tw, ti + 2 * tw, ti + 3 * tw, tw);
          float* row = yp + (2 * ty + i) * g.ow;
          if (g.ow == 2 * tw) {
            interleave(row, even, odd, tw);
          } else {  // an odd width: the last tile's second column falls outside
            interleave(line, even, odd, tw);
            std::memcpy(row, line, size_t(g.ow) * sizeof(float));
          }
        }
      }
    }
}

// The adjoint of transform_output: Q [16][OCg][T] = A dy A^T per tile for output channels
// [o0, o0 + ocg) of samples [n0, n0 + nb); dy positions beyond the output are zeros. For a tile
// {a b; c d}, A dy has rows {a b}, {a+c b+d}, {a-c b-d}, {-c -d}, and a row {u v} times A^T is
// {u, u+v, u-v, -v}.
void transform_grad_output(const Winograd3x3& g, const float* dy, int64_t n0, int64_t nb,
                           int64_t o0, int64_t ocg, float* q, Scratch& scratch) {
  if (avx512_enabled()) {
    winograd_grad_output_avx512(g, dy, n0, nb, o0, ocg, q);
    return;
  }
  const int64_t th = (g.oh + 1) / 2, tw = (g.ow + 1) / 2, tiles = nb * th * tw;
  const int64_t plane = g.oh * g.ow, stride_xi = ocg * tiles, pairs = g.ow / 2;
  // a, b: row 2ty's even and odd columns; c, d: row 2ty + 1's (zeros beyond the output)
  float* __restrict a = scratch.rows.data();
  float* __restrict b = a + tw;
  float* __restrict c = b + tw;
  float* __restrict d = c + tw;
  for (int64_t o = 0; o < ocg; ++o)
    for (int64_t s = 0; s < nb; ++s) {
      const float* yp = dy + ((n0 + s) * g.oc + o0 + o) * plane;
      float* qo = q + o * tiles + s * th * tw;
      for (int64_t ty = 0; ty < th; ++ty) {
        std::fill(a, a + 4 * tw, 0.0f);
        for (int64_t i = 0; i < 2 && 2 * ty + i < g.oh; ++i) {
          const float* __restrict row = yp + (2 * ty + i) * g.ow;
          float* __restrict even = i == 0 ? a : c;
          float* __restrict odd = i == 0 ? b : d;
          for (int64_t k = 0; k < pairs; ++k) {
            even[k] = row[2 * k];
            odd[k] = row[2 * k + 1];
          }
          if (pairs < tw) even[pairs] = row[2 * pairs];
        }
        float* base = qo + ty * tw;
        // row i of A dy as {u, v}: {a, b}, {a + c, b + d}, {a - c, b - d}, {-c, -d}
        for (int i = 0; i < 4; ++i) {
          float* __restrict q0 = base + (i * 4 + 0) * stride_xi;
          float* __restrict q1 = base + (i * 4 + 1) * stride_xi;
          float* __restrict q2 = base + (i * 4 + 2) * stride_xi;
          float* __restrict q3 = base + (i * 4 + 3) * stride_xi;
          const float ca = i == 3 ? 0.0f : 1.0f;
          const float cc = i == 1 ? 1.0f : i == 0 ? 0.0f : -1.0f;
          for (int64_t k = 0; k < tw; ++k) {
            const float u = ca * a[k] + cc * c[k], v = ca * b[k] + cc * d[k];
            q0[k] = u;
            q1[k] = u + v;
            q2[k] = u - v;
            q3[k] = -v;
          }
        }
      }
    }
}

// dw [OC, Cg, 3, 3] = G^T dU G from dU [groups][16][OCg][Cg] (the adjoint of transform_weights).
void weights_from_transformed(const Winograd3x3& g, const float* du, float* dw) {
  const int64_t cg = g.c / g.groups, ocg = g.oc / g.groups;
  for (int64_t o = 0; o < g.oc; ++o)
    for (int64_t c = 0; c < cg; ++c) {
      const float* base = du + (o / ocg) * 16 * ocg * cg + (o % ocg) * cg + c;
      float m[4][4];
      for (int xi = 0; xi < 16; ++xi) m[xi / 4][xi % 4] = base[xi * ocg * cg];
      float r[3][4];  // G^T m
      for (int j = 0; j < 4; ++j) {
        r[0][j] = m[0][j] + 0.5f * (m[1][j] + m[2][j]);
        r[1][j] = 0.5f * (m[1][j] - m[2][j]);
        r[2][j] = 0.5f * (m[1][j] + m[2][j]) + m[3][j];
      }
      float* k = dw + (o * cg + c) * 9;
      for (int i = 0; i < 3; ++i) {
        k[i * 3 + 0] = r[i][0] + 0.5f * (r[i][1] + r[i][2]);
        k[i * 3 + 1] = 0.5f * (r[i][1] - r[i][2]);
        k[i * 3 + 2] = 0.5f * (r[i][1] + r[i][2]) + r[i][3];
      }
    }
}

// Samples per block: enough tiles for wide products, but at least one block per thread.
int64_t samples_per_block(const Winograd3x3& g, int threads) {
  const int64_t per_sample = ((g.oh + 1) / 2) * ((g.ow + 1) / 2);
  const int64_t nb = std::max<int64_t>(1, (kTileTarget + per_sample - 1) / per_sample);
  return std::min(nb, std::max<int64_t>(1, (g.n + threads - 1) / threads));
}

}  // namespace

bool winograd_worthwhile(int64_t channels_per_group, int64_t out_channels_per_group) {
  return channels_per_group >= 16 && out_channels_per_group >= 16;
}

void winograd_conv3x3(const Winograd3x3& g, const float* x, const float* w, float* y,
                      bool batch_parallel) {
  const int64_t cg = g.c / g.groups, ocg = g.oc / g.groups;
  const int64_t per_sample = ((g.oh + 1) / 2) * ((g.ow + 1) / 2);
  const int64_t nb = samples_per_block(g, batch_parallel ? omp_get_max_threads() : 1);
  const int64_t blocks = (g.n + nb - 1) / nb;
  HostScratch<float> u;
  transform_weights(g, w, u);

  auto block = [&](int64_t b, HostScratch<float>& v, HostScratch<float>& m, Scratch& scratch) {
    const int64_t n0 = b * nb, count = std::min(nb, g.n - n0), tiles = count * per_sample;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      transform_input(g, x, n0, count, grp * cg, cg, v.data(), scratch);
      for (int64_t xi = 0; xi < 16; ++xi)
        sgemm(false, false, ocg, tiles, cg, u.data() + (grp * 16 + xi) * ocg * cg, cg,
              v.data() + xi * cg * tiles, tiles, 0.0f, m.data() + xi * ocg * tiles, tiles);
      transform_output(g, m.data(), n0, count, grp * ocg, ocg, y, scratch);
    }
  };
  const size_t vsize = size_t(16 * cg * nb * per_sample),
               msize = size_t(16 * ocg * nb * per_sample);
  if (batch_parallel && blocks > 1) {
#pragma omp parallel
    {
      HostScratch<float> v(vsize), m(msize);
      Scratch scratch(g);
#pragma omp for schedule(static)
      for (int64_t b = 0; b < blocks; ++b) block(b, v, m, scratch);
    }
  } else {
    HostScratch<float> v(vsize), m(msize);
    Scratch scratch(g);
    for (int64_t b = 0; b < blocks; ++b) block(b, v, m, scratch);
  }
}

void winograd_conv3x3_weight_grad(const Winograd3x3& g, const float* x, const float* dy, float* dw,
                                  bool batch_parallel) {
  const int64_t cg = g.c / g.groups, ocg = g.oc / g.groups;
  const int64_t per_sample = ((g.oh + 1) / 2) * ((g.ow + 1) / 2);
  const int threads = batch_parallel ? omp_get_max_threads() : 1;
  const int64_t nb = samples_per_block(g, threads);
  const int64_t blocks = (g.n + nb - 1) / nb;
  const size_t usize = size_t(16 * g.oc * cg);
  // Adds block b's dU into du: per group and xi, Q [OCg, T] @ V^T [T, Cg].
  auto block = [&](int64_t b, HostScratch<float>& v, HostScratch<float>& q, float* du,
                   Scratch& scratch) {
    const int64_t n0 = b * nb, count = std::min(nb, g.n - n0), tiles = count * per_sample;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      transform_input(g, x, n0, count, grp * cg, cg, v.data(), scratch);
      transform_grad_output(g, dy, n0, count, grp * ocg, ocg, q.data(), scratch);
      for (int64_t xi = 0; xi < 16; ++xi)
        sgemm(false, true, ocg, cg, tiles, q.data() + xi * ocg * tiles, tiles,
              v.data() + xi * cg * tiles, tiles, 1.0f, du + (grp * 16 + xi) * ocg * cg, cg);
    }
  };
  const size_t vsize = size_t(16 * cg * nb * per_sample),
               qsize = size_t(16 * ocg * nb * per_sample);
  std::vector<float> du(usize, 0.0f);
  if (batch_parallel && blocks > 1) {
    // Thread 0 sums into du, the others into their own buffers, added at the end.
    std::vector<std::vector<float>> partial(size_t(threads - 1));
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      float* acc = du.data();
      if (t > 0) {
        partial[size_t(t - 1)].assign(usize, 0.0f);
        acc = partial[size_t(t - 1)].data();
      }
      HostScratch<float> v(vsize), q(qsize);
      Scratch scratch(g);
#pragma omp for schedule(static)
      for (int64_t b = 0; b < blocks; ++b) block(b, v, q, acc, scratch);
    }
    for (const std::vector<float>& p : partial)
      for (size_t i = 0; i < p.size(); ++i) du[i] += p[i];
  } else {
    HostScratch<float> v(vsize), q(qsize);
    Scratch scratch(g);
    for (int64_t b = 0; b < blocks; ++b) block(b, v, q, du.data(), scratch);
  }
  weights_from_transformed(g, du.data(), dw);
}

}  // namespace kiln::cpu
