// conv2d, max_pool2d and avg_pool2d (kiln::nn::functional, include/kiln/nn/conv.h): forward
// values over a grid of cases against direct loops written here in float64 (the loops follow
// PyTorch 1.13's CPU kernels, including which element of a tied window max pooling reports), a
// few cases against numbers from PyTorch itself, fp64 gradchecks (first and second order) and
// error messages.
//
// Inputs are deterministic: seq(shape, a, b)[i] = sin(a * i + b) in row-major order. The PyTorch
// numbers come from Debian's python3-torch 1.13 with
//   import torch, torch.nn.functional as F, math
//   seq = lambda shape, a, b: torch.tensor([math.sin(a * i + b) for i in
//                                           range(math.prod(shape))],
//                                          dtype=torch.float64).reshape(shape)
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/gradcheck.h"
#include "kiln/nn/conv.h"
#include "kiln/ops.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::testing;
namespace F = kiln::nn::functional;
using F::Size2;

namespace {

constexpr double kTol = 1e-12;
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> seq_values(int64_t n, double a, double b) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = std::sin(a * double(i) + b);
  return v;
}
Tensor seq(const Shape& shape, double a, double b, bool requires_grad = false) {
  return tensor(seq_values(numel_of(shape), a, b), shape,
                TensorOptions(DType::Float64, Device::cpu(), requires_grad));
}
// Half-integers in [-1.5, 1.5]: many ties inside pooling windows.
Tensor tied(const Shape& shape) {
  std::vector<double> v = seq_values(numel_of(shape), 0.7, 0);
  for (double& x : v) x = std::round(x * 3) / 2;
  return tensor(v, shape, TensorOptions(DType::Float64));
}

std::string str(const Size2& s) { return std::to_string(s[0]) + "x" + std::to_string(s[1]); }

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// ---------------- reference loops ----------------

struct Out {
  Shape shape;
  std::vector<double> values;
};

// Direct convolution of x [N, C, H, W] with w [OC, C / groups, KH, KW]; pads {top, bottom,
// left, right}. An empty shape when the output would be smaller than 1x1.
Out naive_conv(const Tensor& xt, const Tensor& wt, const Tensor& bt, Size2 stride,
               std::array<int64_t, 4> pads, Size2 dil, int64_t groups) {
  const std::vector<double> x = xt.to_vector(), w = wt.to_vector();
  const std::vector<double> b = bt.defined() ? bt.to_vector() : std::vector<double>{};
  const int64_t N = xt.size(0), C = xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t OC = wt.size(0), CG = wt.size(1), KH = wt.size(2), KW = wt.size(3);
  const int64_t OH = floor_div(H + pads[0] + pads[1] - dil[0] * (KH - 1) - 1, stride[0]) + 1;
  const int64_t OW = floor_div(W + pads[2] + pads[3] - dil[1] * (KW - 1) - 1, stride[1]) + 1;
  if (OH < 1 || OW < 1) return {};
  Out out{{N, OC, OH, OW}, {}};
  const int64_t ocg = OC / groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < OC; ++oc)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = b.empty() ? 0.0 : b[size_t(oc)];
          const int64_t grp = oc / ocg;
          for (int64_t cg = 0; cg < CG; ++cg)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx) {
                const int64_t y = oy * stride[0] - pads[0] + ky * dil[0];
                const int64_t xx = ox * stride[1] - pads[2] + kx * dil[1];
                if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
                const int64_t c = grp * CG + cg;
                acc += x[size_t(((n * C + c) * H + y) * W + xx)] *
                       w[size_t(((oc * CG + cg) * KH + ky) * KW + kx)];
              }
          out.values.push_back(acc);
        }
  (void)C;
  return out;
}

// PyTorch's pooling_output_shape.
int64_t pool_out(int64_t in, int64_t k, int64_t pad, int64_t s, int64_t d, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad) --out;
  return out;
}

struct PoolOut {
  Shape shape;
  std::vector<double> values, indices;
};

// Max pooling as PyTorch's CPU kernel: scan the window's input elements in row-major order,
// keep the first strict maximum (a NaN always replaces), start from the first input element.
PoolOut naive_max_pool(const Tensor& xt, Size2 k, Size2 s, Size2 p, Size2 d, bool ceil_mode) {
  const std::vector<double> x = xt.to_vector();
  const int64_t NC = xt.size(0) * xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t OH = pool_out(H, k[0], p[0], s[0], d[0], ceil_mode);
  const int64_t OW = pool_out(W, k[1], p[1], s[1], d[1], ceil_mode);
  PoolOut out{{xt.size(0), xt.size(1), OH, OW}, {}, {}};
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        int64_t y0 = oy * s[0] - p[0], x0 = ox * s[1] - p[1];
        const int64_t y1 = std::min(y0 + (k[0] - 1) * d[0] + 1, H);
        const int64_t x1 = std::min(x0 + (k[1] - 1) * d[1] + 1, W);
        while (y0 < 0) y0 += d[0];
        while (x0 < 0) x0 += d[1];
        int64_t best = y0 * W + x0;
        double best_v = -kInf;
        for (int64_t y = y0; y < y1; y += d[0])
          for (int64_t xx = x0; xx < x1; xx += d[1]) {
            const double v = x[size_t(nc * H * W + y * W + xx)];
            if (v > best_v || std::isnan(v)) {
              best_v = v;
              best = y * W + xx;
            }
          }
        out.values.push_back(best_v);
        out.indices.push_back(double(best));
      }
  return out;
}

// Average pooling as PyTorch's CPU kernel.
PoolOut naive_avg_pool(const Tensor& xt, Size2 k, Size2 s, Size2 p, bool ceil_mode,
                       bool count_include_pad, std::optional<int64_t> divisor) {
  const std::vector<double> x = xt.to_vector();
  const int64_t NC = xt.size(0) * xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t OH = pool_out(H, k[0], p[0], s[0], 1, ceil_mode);
  const int64_t OW = pool_out(W, k[1], p[1], s[1], 1, ceil_mode);
  PoolOut out{{xt.size(0), xt.size(1), OH, OW}, {}, {}};
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        int64_t y0 = oy * s[0] - p[0], x0 = ox * s[1] - p[1];
        int64_t y1 = std::min(y0 + k[0], H + p[0]), x1 = std::min(x0 + k[1], W + p[1]);
        const int64_t pool_size = (y1 - y0) * (x1 - x0);
        y0 = std::max<int64_t>(y0, 0);
        x0 = std::max<int64_t>(x0, 0);
        y1 = std::min(y1, H);
        x1 = std::min(x1, W);
        double acc = 0;
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t xx = x0; xx < x1; ++xx) acc += x[size_t(nc * H * W + y * W + xx)];
        const int64_t div = divisor             ? *divisor
                            : count_include_pad ? pool_size
                                                : (y1 - y0) * (x1 - x0);
        out.values.push_back(acc / double(div));
      }
  return out;
}

Tensor as_tensor(const Shape& shape, const std::vector<double>& v) {
  return tensor(v, shape, TensorOptions(DType::Float64));
}

void expect_gradcheck(const autograd::Function& f, const std::vector<Tensor>& inputs,
                      bool second_order = true) {
  GradcheckOptions opt;
  opt.check_second_order = second_order;
  GradcheckResult res = gradcheck(f, inputs, opt);
  EXPECT_TRUE(res.ok) << res.message;
}

// ---------------- conv2d forward ----------------

TEST(Conv2d, MatchesDirectLoopOverGrid) {
  struct Channels {
    int64_t c, oc, groups;
  };
  const std::vector<Channels> channels{{4, 6, 1}, {4, 6, 2}, {4, 4, 4}, {3, 6, 3}};
  const std::vector<Size2> kernels{{3, 3}, {2, 3}, {3, 1}};
  const std::vector<Size2> strides{{1, 1}, {2, 2}, {2, 1}};
  // {0, 0} and {1, 1} numerically, {1, 0}, then the strings.
  const std::vector<std::string> paddings{"0", "1", "1x0", "same", "valid"};
  const std::vector<Size2> dilations{{1, 1}, {2, 2}, {1, 2}, {3, 2}};
  int checked = 0, too_small = 0;
  for (const Channels& ch : channels)
    for (const Size2& k : kernels)
      for (const Size2& s : strides)
        for (const std::string& pad : paddings)
          for (const Size2& d : dilations)
            for (bool with_bias : {false, true}) {
              if (pad == "same" && s != Size2{1, 1}) continue;
              SCOPED_TRACE("channels " + std::to_string(ch.c) + "->" + std::to_string(ch.oc) +
                           " groups " + std::to_string(ch.groups) + " kernel " + str(k) +
                           " stride " + str(s) + " padding " + pad + " dilation " + str(d) +
                           (with_bias ? " bias" : ""));
              Tensor x = seq({2, ch.c, 5, 6}, 0.37, 0.1);
              Tensor w = seq({ch.oc, ch.c / ch.groups, k[0], k[1]}, 0.91, 0.3);
              Tensor b = with_bias ? seq({ch.oc}, 1.3, 0.5) : Tensor();
              std::array<int64_t, 4> pads{};
              if (pad == "1") pads = {1, 1, 1, 1};
              if (pad == "1x0") pads = {1, 1, 0, 0};
              if (pad == "same")
                for (int i = 0; i < 2; ++i) {
                  const int64_t total = d[size_t(i)] * (k[size_t(i)] - 1);
                  pads[size_t(2 * i)] = total / 2;
                  pads[size_t(2 * i + 1)] = total - total / 2;
                }
              const Out ref = naive_conv(x, w, b, s, pads, d, ch.groups);
              auto run = [&] {
                if (pad == "same" || pad == "valid")
                  return F::conv2d(x, w, b, s, pad.c_str(), d, ch.groups);
                return F::conv2d(x, w, b, s, {pads[0], pads[2]}, d, ch.groups);
              };
              if (ref.shape.empty()) {
                EXPECT_THROW_MSG(run(), ValueError, "conv2d: output size", "is too small");
                ++too_small;
                continue;
              }
              expect_close(run(), as_tensor(ref.shape, ref.values), kTol, kTol);
              ++checked;
            }
  EXPECT_GT(checked, 400);
  EXPECT_GT(too_small, 0);
}

TEST(Conv2d, MatchesPyTorch) {
  // x = seq((1,4,4,5), .37, .1); w = seq((6,2,2,3), .91, .3); b = seq((6,), 1.3, .5), all
  // requiring grad; y = F.conv2d(x, w, b, stride=(2,1), padding=(1,2), dilation=(1,2),
  // groups=2); (y * seq(y.shape, .23, .7)).sum().backward()
  Tensor x = seq({1, 4, 4, 5}, 0.37, 0.1, true);
  Tensor w = seq({6, 2, 2, 3}, 0.91, 0.3, true);
  Tensor b = seq({6}, 1.3, 0.5, true);
  Tensor y = F::conv2d(x, w, b, {2, 1}, {1, 2}, {1, 2}, 2);
  expect_values(y, {1, 6, 3, 5},
                {-1.023541104858223, -1.310133367005257, -0.588809436773455, 0.682118617165472,
                 0.602065345925018,  2.998371915783475,  2.056567664393419,  0.282650005793144,
                 0.51831555483781,   0.304034507274237,  1.097422284125279,  1.874241667929628,
                 2.055084157162017,  0.832522646539804,  1.090542826586187,  2.574829755915515,
                 2.752164936878022,  3.285508585641816,  3.375882283118016,  3.375929130438775,
                 -0.855824274311051, -0.318653947858965, -1.695590676846808, -0.990877863333862,
                 0.318298907313338,  0.507862845190616,  0.233288928519642,  0.251720115500267,
                 -0.540761322949443, -1.102928056499366, 1.302791422691372,  1.562605232645636,
                 0.760743885510874,  -0.523831024760873, -0.443784827687725, -2.201076591653561,
                 -1.340387603620717, 0.641454022291307,  0.299373500854449,  0.315962655729936,
                 -0.506050173523955, -1.241407595516507, -1.425033281273905, -0.082803320217873,
                 -0.255933661051159, -0.585577833093475, 0.108154737004771,  0.097516019558839,
                 0.105769439347098,  0.79850130756938,   -3.420262194100186, -3.551038539772059,
                 -4.870438614954587, -4.711779483960969, -4.279303985403089, -0.367726375099781,
                 -0.82377509508598,  0.001025749095901,  -0.386579487708434, -1.287772766505199,
                 -0.582257326547749, -0.116720257255548, 0.293610660632855,  -1.149360661893833,
                 -1.359713507503441, -3.103245359668444, -3.088551118882064, -1.495791868412519,
                 0.101563462562404,  0.124968692668115,  0.707881033354733,  0.054201749220754,
                 -0.98620056218376,  -0.316807488655113, -0.349494860010502, 0.295729846824608,
                 -0.468301025541364, -0.519624220042354, -0.309982136151672, -0.970949728446317,
                 3.511095340345819,  3.639652786066362,  4.718538671048186,  4.318671319930301,
                 3.882661520778232,  -0.116938613667941, 0.437818774077123,  -0.229876393690306,
                 0.056647318735352,  0.962776545415648},
                1e-12);
  sum(mul(y, seq(y.shape(), 0.23, 0.7))).backward();
  expect_values(x.grad(), x.shape(),
                {-1.641722746977459, -1.780644174642236, -1.443632252559437, -0.637640233099255,
                 -0.81143656708897,  1.380409689921241,  1.182166173240823,  0.786077755524893,
                 0.701077697550041,  0.784020564257403,  -1.399920970074539, -1.095838054510773,
                 -1.009963477835213, -1.023532636792809, -0.941745673468033, -0.084295727873701,
                 -0.435455897246421, -0.145815672561061, 0.692380306124011,  0.569682989981541,
                 -1.652439235477615, -1.633464703705662, -1.962231737606253, -1.723944301286124,
                 -1.784958427122863, 1.185602928002342,  0.826471696456746,  1.065154623420866,
                 1.175026537624822,  0.942170651283319,  -0.773253186277424, -0.41905946241963,
                 -0.94243259463169,  -1.130255317237063, -0.78522451350013,  -0.828564347650307,
                 -1.187404104717178, -0.987908044586448, -0.32842545043827,  -0.646766707221457,
                 0.399095022808891,  0.555164943749546,  -0.337719040724205, -0.687453656481506,
                 -0.338915715802556, -0.875832078556777, -1.008310048807487, -0.875724445966112,
                 -0.87734672121539,  -1.224783660716461, 0.829967322752045,  0.793109389023386,
                 0.748187362329184,  1.042160625925833,  1.292747248092889,  -0.980516101359032,
                 -0.835980842085487, -1.563739252821919, -1.841935471875098, -1.762225085858611,
                 1.427481842798803,  1.332458959455461,  0.757955982664521,  0.440155930721068,
                 0.596237865062839,  -0.645472815199188, -0.445435371921016, -0.495680264262224,
                 -1.032902052246759, -1.144782780034632, 0.35316474236702,   0.023360118364557,
                 0.160379506616878,  0.851117463196028,  0.80560481687696,   0.469177270624051,
                 0.665907828564751,  -0.175692692178273, -0.978771466064966, -0.794873389992713},
                1e-12);
  expect_values(w.grad(), w.shape(),
                {1.505383247475209,  0.938471413990242,  0.02046062835647,   -0.013839053024617,
                 0.104024201925333,  -0.279802584925908, -1.532309578536654, -2.94836278669501,
                 -2.317880100571022, 1.357237779931455,  1.190775483595409,  0.873394952739317,
                 -1.152650878542715, -0.623874852061074, 0.3576859737137,    -0.630606202218915,
                 -1.194115361981465, -0.597203993809759, 1.760420483839603,  3.249387729961127,
                 2.679112356926294,  -2.023762827140248, -2.036787531586445, -1.294822094411247,
                 0.691150256812046,  0.250407231351996,  -0.702080050075095, 1.215545204445258,
                 2.171525532520286,  1.41785627118671,   -1.822411826157932, -3.243788844077394,
                 -2.787534004677079, 2.499318387504729,  2.690601035112862,  1.594065199689048,
                 1.666396833264518,  2.425034669312526,  1.329091442169277,  -0.716606973913676,
                 0.233344386284537,  0.57603802844278,   -0.250846125257932, -0.805109512903857,
                 -1.467174989857703, 2.110497193567676,  3.295184931356349,  2.24812649652762,
                 -0.885968581938306, -1.525717318963783, -0.789913943447951, 0.3889987601503,
                 -0.633055817565457, -1.078008847017772, 0.663786252340144,  1.005518666815026,
                 1.537013511739379,  -2.3790869704661,   -3.754055987931755, -2.672758834428462,
                 0.02193717159369,   0.482427834348834,  0.176197344389168,  -0.024683234337938,
                 0.973029841377973,  1.478254901421897,  -1.01408913839603,  -1.111043488808018,
                 -1.461813950267971, 2.423177605560486,  3.858680916460033,  2.845180104794943},
                1e-12);
  expect_values(b.grad(), b.shape(),
                {6.36389917505927, -4.302635802740276, 1.835360352173784, 0.805106254949485,
                 -3.369600160973135, 5.616126563600721},
                1e-12);
}

TEST(Conv2d, SamePaddingEvenKernelMatchesPyTorch) {
  // F.conv2d(seq((1,2,4,4), .5, .2), seq((1,2,2,2), .7, .9), padding='same'): the odd
  // padding element goes to the bottom and the right.
  Tensor y =
      F::conv2d(seq({1, 2, 4, 4}, 0.5, 0.2), seq({1, 2, 2, 2}, 0.7, 0.9), {}, {1, 1}, "same");
  expect_values(y, {1, 1, 4, 4},
                {1.425870895171556, 2.523963649860093, 3.004102076753236, 1.231140350716389,
                 1.820375663094524, 0.446328332508263, -1.036995740120805, -1.260703746666554,
                 -2.940958042219942, -2.895439897129442, -2.141017083224964, -0.181864598719556,
                 -0.994013899990182, 0.199494045216708, 1.344158890556488, 0.769839586268433},
                1e-12);
  // "valid" is padding 0.
  Tensor x = seq({2, 3, 6, 5}, 0.3, 0.4), w = seq({2, 3, 3, 2}, 0.6, 0.1);
  expect_close(F::conv2d(x, w, {}, {2, 1}, "valid"), F::conv2d(x, w, {}, {2, 1}, {0, 0}), 0, 0);
  // A std::string works too.
  expect_close(F::conv2d(x, w, {}, {1, 1}, std::string("same")),
               F::conv2d(x, w, {}, {1, 1}, "same"), 0, 0);
}

TEST(Conv2d, UnbatchedEmptyBatchAndFloat32) {
  Tensor x = seq({2, 4, 6, 5}, 0.37, 0.1), w = seq({6, 2, 3, 2}, 0.91, 0.3), b = seq({6}, 1.3, 0.5);
  Tensor batched = F::conv2d(x, w, b, {2, 1}, {1, 1}, {1, 2}, 2);
  Tensor single = F::conv2d(select(x, 0, 1), w, b, {2, 1}, {1, 1}, {1, 2}, 2);
  expect_close(single, select(batched, 0, 1), kTol, kTol, "unbatched");

  // An empty batch: an empty result, and zero gradients for the weight and the bias.
  Tensor wg = w.detach().requires_grad_(), bg = b.detach().requires_grad_();
  Tensor empty_batch = F::conv2d(narrow(x, 0, 0, 0), wg, bg, {2, 1}, {1, 1}, {1, 2}, 2);
  EXPECT_EQ(empty_batch.shape(), (Shape{0, 6, 3, 5}));
  sum(empty_batch).backward();
  expect_values(wg.grad(), wg.shape(), std::vector<double>(size_t(wg.numel()), 0.0), 0);
  expect_values(bg.grad(), bg.shape(), std::vector<double>(6, 0.0), 0);

  EXPECT_TRUE(batched.is_contiguous());
  EXPECT_TRUE(single.is_contiguous());

  Tensor y32 = F::conv2d(x.to(DType::Float32), w.to(DType::Float32), b.to(DType::Float32), {2, 1},
                         {1, 1}, {1, 2}, 2);
  EXPECT_EQ(y32.dtype(), DType::Float32);
  expect_close(y32.to(DType::Float64), batched, 1e-5, 1e-5, "float32");
}

// ---------------- conv2d gradients ----------------

TEST(Conv2d, GradcheckStridePaddingDilationGroups) {
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::conv2d(in[0], in[1], in[2], {2, 1}, {1, 1}, {1, 2}, 2)};
      },
      {seq({2, 4, 5, 4}, 0.37, 0.1, true), seq({4, 2, 2, 3}, 0.91, 0.3, true),
       seq({4}, 1.3, 0.5, true)});
}

TEST(Conv2d, GradcheckSamePaddingAndDepthwiseUnbatched) {
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::conv2d(in[0], in[1], in[2], {1, 1}, "same")};
      },
      {seq({1, 2, 4, 4}, 0.5, 0.2, true), seq({3, 2, 2, 2}, 0.7, 0.9, true),
       seq({3}, 0.4, 0.1, true)});
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::conv2d(in[0], in[1], {}, {2, 2}, {1, 1}, {1, 1}, 3)};
      },
      {seq({3, 5, 4}, 0.3, 0.6, true), seq({3, 1, 3, 3}, 0.8, 0.2, true)});
}

// ---------------- pooling forward ----------------

TEST(Pool2d, MaxPoolMatchesDirectLoopOverGrid) {
  const std::vector<Size2> kernels{{2, 2}, {3, 3}, {3, 2}, {1, 3}};
  const std::vector<Size2> strides{{0, 0}, {1, 1}, {2, 1}, {3, 2}};
  const std::vector<Size2> paddings{{0, 0}, {1, 1}, {1, 0}};
  const std::vector<Size2> dilations{{1, 1}, {2, 2}, {1, 2}};
  int checked = 0, rejected = 0;
  for (const Tensor& x : {seq({2, 3, 7, 8}, 0.37, 0.1), tied({1, 2, 5, 5})})
    for (const Size2& k : kernels)
      for (const Size2& s0 : strides)
        for (const Size2& p : paddings)
          for (const Size2& d : dilations)
            for (bool ceil_mode : {false, true}) {
              SCOPED_TRACE("input " + shape_str(x.shape()) + " kernel " + str(k) + " stride " +
                           str(s0) + " padding " + str(p) + " dilation " + str(d) +
                           (ceil_mode ? " ceil_mode" : ""));
              if (p[0] > k[0] / 2 || p[1] > k[1] / 2) {
                EXPECT_THROW_MSG(F::max_pool2d(x, k, s0, p, d, ceil_mode), ValueError,
                                 "max_pool2d: pad should be at most half of kernel size");
                ++rejected;
                continue;
              }
              const Size2 s = s0 == Size2{0, 0} ? k : s0;
              const PoolOut ref = naive_max_pool(x, k, s, p, d, ceil_mode);
              if (ref.shape[2] < 1 || ref.shape[3] < 1) {
                EXPECT_THROW_MSG(F::max_pool2d(x, k, s0, p, d, ceil_mode), ValueError,
                                 "max_pool2d: output size", "is too small");
                continue;
              }
              auto [values, indices] = F::max_pool2d_with_indices(x, k, s0, p, d, ceil_mode);
              expect_close(values, as_tensor(ref.shape, ref.values), 0, 0, "values");
              ASSERT_EQ(indices.dtype(), DType::Int64);
              expect_close(indices.to(DType::Float64), as_tensor(ref.shape, ref.indices), 0, 0,
                           "indices");
              expect_close(F::max_pool2d(x, k, s0, p, d, ceil_mode), values, 0, 0, "values only");
              ++checked;
            }
  EXPECT_GT(checked, 300);
  EXPECT_GT(rejected, 0);
}

TEST(Pool2d, AvgPoolMatchesDirectLoopOverGrid) {
  const std::vector<Size2> kernels{{2, 2}, {3, 3}, {3, 2}};
  const std::vector<Size2> strides{{0, 0}, {1, 1}, {2, 1}, {3, 2}};
  const std::vector<Size2> paddings{{0, 0}, {1, 1}, {1, 0}};
  int checked = 0;
  for (const Tensor& x : {seq({2, 3, 7, 8}, 0.37, 0.1), seq({1, 2, 5, 5}, 0.8, 0.3)})
    for (const Size2& k : kernels)
      for (const Size2& s0 : strides)
        for (const Size2& p : paddings)
          for (bool ceil_mode : {false, true})
            for (bool include_pad : {true, false})
              for (std::optional<int64_t> divisor :
                   std::vector<std::optional<int64_t>>{std::nullopt, 5}) {
                SCOPED_TRACE("input " + shape_str(x.shape()) + " kernel " + str(k) + " stride " +
                             str(s0) + " padding " + str(p) + (ceil_mode ? " ceil_mode" : "") +
                             (include_pad ? " count_include_pad" : "") +
                             (divisor ? " divisor 5" : ""));
                const Size2 s = s0 == Size2{0, 0} ? k : s0;
                const PoolOut ref = naive_avg_pool(x, k, s, p, ceil_mode, include_pad, divisor);
                expect_close(F::avg_pool2d(x, k, s0, p, ceil_mode, include_pad, divisor),
                             as_tensor(ref.shape, ref.values), kTol, kTol);
                ++checked;
              }
  EXPECT_EQ(checked, 2 * 3 * 4 * 3 * 2 * 2 * 2);
}

TEST(Pool2d, MatchesPyTorch) {
  // xp = torch.tensor([round(math.sin(0.7 * i) * 3) / 2 for i in range(70)],
  //                   dtype=torch.float64).reshape(1, 2, 5, 7) (many ties)
  Tensor xp = tied({1, 2, 5, 7}).requires_grad_();
  // v, i = F.max_pool2d(xp, (3, 2), stride=(2, 2), padding=(1, 1), dilation=(1, 2),
  //                     ceil_mode=True, return_indices=True); v.sum().backward()
  auto [v, i] = F::max_pool2d_with_indices(xp, {3, 2}, {2, 2}, {1, 1}, {1, 2}, true);
  expect_values(v, {1, 2, 3, 4}, {1.0, 1.5, 1.5, 1.5, 0.5, 1.0, 1.5, 1.5, 1.5, 1.5, 0.5, -1.0,
                                  0.0, 1.5, 1.5, 1.5, 1.0, 1.0, 1.5, 1.5, 1.0, 1.0, 1.0, -0.5},
                0);
  expect_values(i, {1, 2, 3, 4}, {1, 3, 3, 12, 22, 10, 12, 12, 29, 29, 31, 26,
                                  1, 3, 3, 12, 22, 22, 12, 12, 22, 22, 31, 33},
                0);
  sum(v).backward();
  expect_values(xp.grad(), xp.shape(),
                {0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
                 0, 0, 1, 0, 0, 2, 0, 1, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3,
                 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0},
                0);
  Tensor x = xp.detach();
  // F.avg_pool2d(xp, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
  expect_values(F::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, true, false), {1, 2, 3, 4},
                {-0.375,
                 0.666666666666667,
                 0.916666666666667,
                 0.0,
                 -0.416666666666667,
                 -0.611111111111111,
                 0.0,
                 0.583333333333333,
                 1.125,
                 0.333333333333333,
                 -0.916666666666667,
                 -1.0,
                 -1.0,
                 0.0,
                 0.916666666666667,
                 0.625,
                 -0.083333333333333,
                 -0.555555555555556,
                 -0.388888888888889,
                 0.166666666666667,
                 0.875,
                 0.75,
                 -0.416666666666667,
                 -1.125},
                1e-14);
  // ... count_include_pad=True
  expect_values(F::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, true, true), {1, 2, 3, 4},
                {-0.166666666666667,
                 0.444444444444444,
                 0.611111111111111,
                 0.0,
                 -0.277777777777778,
                 -0.611111111111111,
                 0.0,
                 0.388888888888889,
                 0.5,
                 0.222222222222222,
                 -0.611111111111111,
                 -0.444444444444444,
                 -0.444444444444444,
                 0.0,
                 0.611111111111111,
                 0.277777777777778,
                 -0.055555555555556,
                 -0.555555555555556,
                 -0.388888888888889,
                 0.111111111111111,
                 0.388888888888889,
                 0.5,
                 -0.277777777777778,
                 -0.5},
                1e-14);
  // F.avg_pool2d(xp, (2, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True, divisor_override=5)
  expect_values(F::avg_pool2d(x, {2, 3}, {2, 2}, {1, 1}, true, true, 5), {1, 2, 3, 4},
                {0.2,  0.8, 0.3, -0.4, -0.9, -0.8, 0.8, 0.9, 0.9, 0.4, -1.1, -0.8,
                 -0.2, 0.5, 0.6, 0.0,  -0.6, -1.2, 0.0, 0.7, 0.7, 0.9, -0.5, -0.9},
                1e-14);
}

TEST(Pool2d, MaxPoolInfiniteAndEmptyWindows) {
  // F.max_pool2d(torch.full((1,1,3,3), -math.inf), 3, stride=1, padding=1,
  //              return_indices=True): the first input element of each window is reported.
  auto [v, i] =
      F::max_pool2d_with_indices(full({1, 1, 3, 3}, -kInf, DType::Float64), {3, 3}, {1, 1}, {1, 1});
  expect_values(v, {1, 1, 3, 3}, std::vector<double>(9, -kInf));
  expect_values(i, {1, 1, 3, 3}, {0, 0, 1, 0, 0, 1, 3, 3, 4}, 0);
  // F.max_pool2d(seq((1,1,2,2), 1, 0), 2, stride=1, padding=1, dilation=3,
  //              return_indices=True): the window's taps at -1 and 2 miss the 2x2 input.
  auto [ve, ie] =
      F::max_pool2d_with_indices(seq({1, 1, 2, 2}, 1, 0), {2, 2}, {1, 1}, {1, 1}, {3, 3});
  expect_values(ve, {1, 1, 1, 1}, {-kInf});
  expect_values(ie, {1, 1, 1, 1}, {6}, 0);
}

TEST(Pool2d, Unbatched) {
  Tensor x = seq({2, 3, 7, 6}, 0.37, 0.1);
  auto [v, i] = F::max_pool2d_with_indices(select(x, 0, 1), {3, 2}, {2, 2}, {1, 1}, {1, 1}, true);
  auto [vb, ib] = F::max_pool2d_with_indices(x, {3, 2}, {2, 2}, {1, 1}, {1, 1}, true);
  expect_close(v, select(vb, 0, 1), 0, 0, "max values");
  expect_close(i.to(DType::Float64), select(ib, 0, 1).to(DType::Float64), 0, 0, "max indices");
  expect_close(F::avg_pool2d(select(x, 0, 1), {3, 3}, {}, {1, 1}, true, false),
               select(F::avg_pool2d(x, {3, 3}, {}, {1, 1}, true, false), 0, 1), 0, 0, "avg");
}

// ---------------- pooling gradients ----------------

TEST(Pool2d, GradcheckMaxPool) {
  // Distinct values (no ties), so that the maximum is differentiable.
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::max_pool2d(in[0], {3, 2}, {2, 1}, {1, 1}, {1, 2}, true)};
      },
      {seq({2, 2, 5, 6}, 0.37, 0.1, true)});
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::max_pool2d(in[0], {2, 2})};
      },
      {seq({3, 4, 5}, 0.61, 0.2, true)});
}

TEST(Pool2d, GradcheckAvgPool) {
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::avg_pool2d(in[0], {3, 3}, {2, 2}, {1, 1}, true, false)};
      },
      {seq({2, 2, 5, 6}, 0.37, 0.1, true)});
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::avg_pool2d(in[0], {2, 3}, {1, 2}, {1, 1}, false, true, 4)};
      },
      {seq({1, 2, 4, 5}, 0.5, 0.3, true)});
}

// ---------------- errors ----------------

TEST(Conv2d, Errors) {
  Tensor x = seq({1, 3, 5, 5}, 0.1, 0), w = seq({4, 3, 3, 3}, 0.2, 0);
  EXPECT_THROW_MSG(F::conv2d(x, seq({4, 4, 3, 3}, 0.2, 0)), ValueError,
                   "conv2d: input has 3 channels but weight expects 4 (groups=1)", "[1, 3, 5, 5]",
                   "[4, 4, 3, 3]");
  EXPECT_THROW_MSG(F::conv2d(seq({1, 1, 3, 3}, 0.1, 0), seq({1, 1, 5, 5}, 0.2, 0)), ValueError,
                   "conv2d: output size -1x-1 is too small (input 3x3, kernel 5x5, stride 1, "
                   "padding 0, dilation 1)");
  EXPECT_THROW_MSG(
      F::conv2d(seq({1, 1, 3, 4}, 0.1, 0), seq({1, 1, 2, 2}, 0.2, 0), {}, {1, 2}, {0, 0}, {3, 1}),
      ValueError, "conv2d: output size 0x2 is too small", "stride 1x2", "dilation 3x1");
  EXPECT_THROW_MSG(F::conv2d(x, w, {}, {1, 1}, {0, 0}, {1, 1}, 0), ValueError,
                   "conv2d: groups must be positive, got 0");
  EXPECT_THROW_MSG(F::conv2d(seq({1, 4, 5, 5}, 0.1, 0), seq({3, 2, 3, 3}, 0.2, 0), {}, {1, 1},
                             {0, 0}, {1, 1}, 2),
                   ValueError, "conv2d: weight [3, 2, 3, 3] has 3 output channels",
                   "not divisible by groups=2");
  EXPECT_THROW_MSG(F::conv2d(x, seq({4, 1, 3, 3}, 0.2, 0), {}, {1, 1}, {0, 0}, {1, 1}, 2),
                   ValueError, "conv2d: input has 3 channels but weight expects 2 (groups=2)");
  EXPECT_THROW_MSG(F::conv2d(x, w, seq({5}, 0.3, 0)), ValueError,
                   "conv2d: expected a bias of shape [4] for weight [4, 3, 3, 3], got [5]");
  EXPECT_THROW_MSG(F::conv2d(seq({3, 5}, 0.1, 0), w), ValueError,
                   "conv2d: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got [3, 5]");
  EXPECT_THROW_MSG(F::conv2d(x, seq({4, 3, 3}, 0.2, 0)), ValueError,
                   "conv2d: expected a 4-D weight", "got [4, 3, 3]");
  EXPECT_THROW_MSG(F::conv2d(x, w, {}, {0, 1}), ValueError, "conv2d: stride must be positive");
  EXPECT_THROW_MSG(F::conv2d(x, w, {}, {1, 1}, {-1, 0}), ValueError,
                   "conv2d: padding must be non-negative");
  EXPECT_THROW_MSG(F::conv2d(x, w, {}, {1, 1}, {0, 0}, {1, 0}), ValueError,
                   "conv2d: dilation must be positive");
  EXPECT_THROW_MSG(F::conv2d(x, w, {}, {2, 1}, "same"), ValueError,
                   "conv2d: padding='same' is not supported for strided convolutions");
  EXPECT_THROW_MSG(F::conv2d(x, w, {}, {1, 1}, "full"), ValueError,
                   "conv2d: padding must be 'same' or 'valid', got 'full'");
  EXPECT_THROW_MSG(F::conv2d(tensor(std::vector<int64_t>(75, 1), {1, 3, 5, 5}), w), TypeError,
                   "conv2d: expected a floating point input");
  EXPECT_THROW_MSG(F::conv2d(x, w.to(DType::Float32)), TypeError,
                   "conv2d: expected input, weight and bias to have the same dtype");
  EXPECT_THROW_MSG(F::conv2d(Tensor(), w), ValueError, "conv2d: input is an undefined tensor");
}

TEST(Pool2d, Errors) {
  Tensor x = seq({1, 2, 5, 5}, 0.1, 0);
  EXPECT_THROW_MSG(F::max_pool2d(x, {3, 3}, {}, {2, 1}), ValueError,
                   "max_pool2d: pad should be at most half of kernel size",
                   "padding 2x1 for kernel_size 3x3");
  EXPECT_THROW_MSG(F::avg_pool2d(x, {2, 2}, {}, {0, 2}), ValueError,
                   "avg_pool2d: pad should be at most half of kernel size");
  EXPECT_THROW_MSG(F::max_pool2d(x, {3, 3}, {1, 1}, {0, 0}, {3, 3}), ValueError,
                   "max_pool2d: output size -1x-1 is too small (input [1, 2, 5, 5], kernel 3x3");
  EXPECT_THROW_MSG(F::avg_pool2d(x, {6, 2}), ValueError,
                   "avg_pool2d: output size 0x2 is too small");
  EXPECT_THROW_MSG(F::max_pool2d(x, {0, 2}), ValueError,
                   "max_pool2d: kernel_size must be positive, got 0x2");
  EXPECT_THROW_MSG(F::max_pool2d(x, {2, 2}, {1, -1}), ValueError,
                   "max_pool2d: stride must be positive");
  EXPECT_THROW_MSG(F::max_pool2d(x, {2, 2}, {}, {}, {0, 1}), ValueError,
                   "max_pool2d: dilation must be positive");
  EXPECT_THROW_MSG(F::avg_pool2d(x, {2, 2}, {}, {}, false, true, 0), ValueError,
                   "avg_pool2d: divisor_override must be non-zero");
  EXPECT_THROW_MSG(F::max_pool2d_with_indices(seq({5, 5}, 0.1, 0), {2, 2}), ValueError,
                   "max_pool2d_with_indices: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input");
  EXPECT_THROW_MSG(F::max_pool2d(tensor(std::vector<int64_t>(25, 1), {1, 5, 5}), {2, 2}), TypeError,
                   "max_pool2d: expected a floating point input");
  EXPECT_THROW_MSG(F::avg_pool2d(tensor(std::vector<int64_t>(25, 1), {1, 5, 5}), {2, 2}), TypeError,
                   "avg_pool2d: expected a floating point input");
}

}  // namespace
