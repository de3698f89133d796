#include "kiln/data/synthetic.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "data/rng.h"
#include "kiln/ops.h"

namespace kiln::data {

namespace {

constexpr int kSide = 28;
constexpr double kPi = 3.14159265358979323846;

// Glyph coordinates: x in [0, 1] left to right, y in [0, 1] top to bottom.
struct Point {
  double x, y;
};
using Stroke = std::vector<Point>;
using Glyph = std::vector<Stroke>;

// An elliptic arc from angle a0 to a1 (degrees, counter-clockwise as seen, 90 = top).
Stroke arc(double cx, double cy, double rx, double ry, double a0, double a1, int steps = 14) {
  Stroke s;
  for (int i = 0; i <= steps; ++i) {
    const double a = (a0 + (a1 - a0) * i / steps) * kPi / 180.0;
    s.push_back({cx + rx * std::cos(a), cy - ry * std::sin(a)});
  }
  return s;
}

Stroke join(Stroke a, const Stroke& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::array<Glyph, 10>& glyphs() {
  static const std::array<Glyph, 10> g = {
      Glyph{arc(0.5, 0.5, 0.4, 0.48, 0, 360, 20)},
      Glyph{{{0.28, 0.22}, {0.55, 0.0}, {0.55, 1.0}}},
      Glyph{join(arc(0.5, 0.3, 0.36, 0.3, 160, -30), {{0.1, 1.0}, {0.92, 1.0}})},
      Glyph{join(arc(0.5, 0.27, 0.33, 0.25, 150, -90), arc(0.5, 0.74, 0.38, 0.26, 90, -150))},
      Glyph{{{0.7, 1.0}, {0.7, 0.0}, {0.08, 0.7}, {0.92, 0.7}}},
      Glyph{join({{0.85, 0.0}, {0.24, 0.0}, {0.2, 0.46}}, arc(0.5, 0.68, 0.36, 0.3, 140, -150))},
      Glyph{{{0.72, 0.0}, {0.4, 0.2}, {0.2, 0.48}, {0.15, 0.7}},
            arc(0.5, 0.7, 0.35, 0.3, 0, 360, 18)},
      Glyph{{{0.1, 0.0}, {0.9, 0.0}, {0.4, 1.0}}},
      Glyph{arc(0.5, 0.25, 0.3, 0.24, 0, 360, 16), arc(0.5, 0.73, 0.36, 0.27, 0, 360, 18)},
      Glyph{arc(0.5, 0.3, 0.35, 0.3, 0, 360, 18), {{0.85, 0.3}, {0.8, 0.6}, {0.6, 1.0}}},
  };
  return g;
}

double segment_distance(double px, double py, Point a, Point b) {
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? ((px - a.x) * dx + (py - a.y) * dy) / len2 : 0.0;
  t = std::clamp(t, 0.0, 1.0);
  const double ex = a.x + t * dx - px, ey = a.y + t * dy - py;
  return std::sqrt(ex * ex + ey * ey);
}

void draw_digit(int digit, std::mt19937_64& gen, float* out) {
  using detail::uniform;
  // The affine map from glyph to pixel coordinates.
  const double height = uniform(gen, 16.5, 21.0);
  const double width = height * uniform(gen, 0.55, 0.8);
  const double angle = uniform(gen, -0.2, 0.2);
  const double slant = uniform(gen, -0.3, 0.3);
  const double cx = 13.5 + uniform(gen, -2.0, 2.0), cy = 13.5 + uniform(gen, -2.0, 2.0);
  const double ca = std::cos(angle), sa = std::sin(angle);
  const double half_width = uniform(gen, 0.8, 1.7);
  const double brightness = uniform(gen, 0.75, 1.0);
  const double noise = uniform(gen, 0.0, 0.08);

  std::array<double, kSide * kSide> dist;
  dist.fill(1e9);
  const double reach = half_width + 1.0;
  for (const Stroke& stroke : glyphs()[size_t(digit)]) {
    std::vector<Point> pts;
    for (Point p : stroke) {
      const double gx = p.x + uniform(gen, -0.035, 0.035) - 0.5;
      const double gy = p.y + uniform(gen, -0.035, 0.035) - 0.5;
      const double u = gx * width + slant * -gy * height, v = gy * height;
      pts.push_back({cx + ca * u - sa * v, cy + sa * u + ca * v});
    }
    for (size_t s = 0; s + 1 < pts.size(); ++s) {
      const Point a = pts[s], b = pts[s + 1];
      const int x0 = std::max(0, int(std::floor(std::min(a.x, b.x) - reach)));
      const int x1 = std::min(kSide - 1, int(std::ceil(std::max(a.x, b.x) + reach)));
      const int y0 = std::max(0, int(std::floor(std::min(a.y, b.y) - reach)));
      const int y1 = std::min(kSide - 1, int(std::ceil(std::max(a.y, b.y) + reach)));
      for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x) {
          double& d = dist[size_t(y * kSide + x)];
          d = std::min(d, segment_distance(x, y, a, b));
        }
    }
  }
  for (int i = 0; i < kSide * kSide; ++i) {
    // Coverage of a pixel by a stroke of half-width w, anti-aliased over one pixel.
    const double ink = std::clamp(half_width + 0.5 - dist[size_t(i)], 0.0, 1.0) * brightness;
    out[i] = float(std::clamp(ink + noise * detail::normal01(gen), 0.0, 1.0));
  }
}

}  // namespace

TensorDataset synthetic_digits(int64_t n, uint64_t seed) {
  KILN_CHECK_VALUE(n >= 0, "synthetic_digits: n must be non-negative, got ", n);
  Tensor images = empty({n, 1, kSide, kSide}, DType::Float32);
  Tensor labels = empty({n}, DType::Int64);
  float* img = images.data<float>();
  int64_t* lab = labels.data<int64_t>();
#pragma omp parallel for schedule(static) if (n > 256)
  for (int64_t i = 0; i < n; ++i) {
    std::mt19937_64 gen(detail::derive_seed(seed, 0xd1617ull, uint64_t(i)));
    const auto digit = int(detail::uniform_below(gen, 10));
    lab[i] = digit;
    draw_digit(digit, gen, img + i * kSide * kSide);
  }
  return TensorDataset(images, labels);
}

}  // namespace kiln::data
