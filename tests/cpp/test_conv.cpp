// The convolution ops (src/ops/conv.cpp, CPU kernels src/cpu/conv.cpp and conv_winograd.cpp)
// through conv1d, conv2d, conv3d and conv_transpose2d (include/kiln/nn/conv.h):
//   - values against direct loops written here in float64 over strides, paddings (numbers,
//     'same' with odd and even kernels, 'valid'), dilations and groups (depthwise included);
//   - the im2col + GEMM kernel against the index_select composite (src/nn/conv_composite.h),
//     forward and gradients, in float64 and float32, with channels-last and strided inputs;
//     the float32 Winograd path against float64;
//   - numbers printed by PyTorch 1.13 for each function, forward and gradients;
//   - fp64 gradchecks, first and second order, of every function and of the two gradient ops;
//   - error messages.
// The modules are tested in test_conv_modules.cpp.
//
// Inputs are deterministic: seq(shape, a, b)[i] = sin(a * i + b) in row-major order. The PyTorch
// numbers come from Debian's python3-torch 1.13 with
//   seq = lambda shape, a, b: torch.tensor([math.sin(a * i + b) for i in
//                                           range(math.prod(shape))],
//                                          dtype=torch.float64).reshape(shape)
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/gradcheck.h"
#include "kiln/memory_format.h"
#include "kiln/nn/conv.h"
#include "kiln/ops.h"
#include "nn/conv_composite.h"
#include "ops/conv.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::testing;
namespace F = kiln::nn::functional;
using F::Size2;
using F::Size3;

namespace {

using Sizes = std::vector<int64_t>;

Tensor seq(const Shape& shape, double a, double b, bool requires_grad = false) {
  std::vector<double> v(size_t(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(a * double(i) + b);
  return tensor(v, shape, TensorOptions(DType::Float64, Device::cpu(), requires_grad));
}

void expect_gradcheck(const autograd::Function& f, const std::vector<Tensor>& inputs) {
  GradcheckOptions opt;
  opt.check_second_order = true;
  GradcheckResult res = gradcheck(f, inputs, opt);
  EXPECT_TRUE(res.ok) << res.message;
}

std::string str(const Sizes& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "x" : "") + std::to_string(v[i]);
  return s;
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// ---------------- reference loops (float64) ----------------

// Row-major offset of `idx` in `shape`.
int64_t offset(const Shape& shape, const Sizes& idx) {
  int64_t o = 0;
  for (size_t i = 0; i < shape.size(); ++i) o = o * shape[i] + idx[i];
  return o;
}

// Every index of a shape, row-major.
std::vector<Sizes> indices(const Sizes& shape) {
  std::vector<Sizes> all{Sizes{}};
  for (int64_t s : shape) {
    std::vector<Sizes> next;
    for (const Sizes& p : all)
      for (int64_t i = 0; i < s; ++i) {
        Sizes q = p;
        q.push_back(i);
        next.push_back(q);
      }
    all = next;
  }
  return all;
}

// Direct convolution of x [N, C, I...] with w [OC, C / groups, K...]; pads before / after per
// spatial dim. Undefined when an output size would be below 1.
Tensor naive_conv(const Tensor& xt, const Tensor& wt, const Tensor& bt, const Sizes& stride,
                  const Sizes& before, const Sizes& after, const Sizes& dil, int64_t groups) {
  const std::vector<double> x = xt.to_vector(), w = wt.to_vector();
  const size_t sp = stride.size();
  const int64_t N = xt.size(0), OC = wt.size(0), CG = wt.size(1), ocg = OC / groups;
  Sizes in(xt.shape().begin() + 2, xt.shape().end()), k(wt.shape().begin() + 2, wt.shape().end());
  Sizes out(sp);
  for (size_t d = 0; d < sp; ++d) {
    out[d] = floor_div(in[d] + before[d] + after[d] - dil[d] * (k[d] - 1) - 1, stride[d]) + 1;
    if (out[d] < 1) return {};
  }
  Shape yshape{N, OC};
  yshape.insert(yshape.end(), out.begin(), out.end());
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < OC; ++oc)
      for (const Sizes& o : indices(out)) {
        double acc = bt.defined() ? bt.to_vector()[size_t(oc)] : 0.0;
        for (int64_t cg = 0; cg < CG; ++cg)
          for (const Sizes& t : indices(k)) {
            Sizes xi{n, oc / ocg * CG + cg}, wi{oc, cg};
            bool inside = true;
            for (size_t d = 0; d < sp; ++d) {
              const int64_t p = o[d] * stride[d] - before[d] + t[d] * dil[d];
              inside = inside && p >= 0 && p < in[d];
              xi.push_back(p);
              wi.push_back(t[d]);
            }
            if (inside)
              acc += x[size_t(offset(xt.shape(), xi))] * w[size_t(offset(wt.shape(), wi))];
          }
        y.push_back(acc);
      }
  return tensor(y, yshape, TensorOptions(DType::Float64));
}

// Direct transposed convolution: x [N, C_in, H, W], w [C_in, C_out / groups, KH, KW]; every
// input element scatters w times itself to (i * stride - padding + k * dilation).
Tensor naive_conv_transpose(const Tensor& xt, const Tensor& wt, const Tensor& bt,
                            const Sizes& stride, const Sizes& pad, const Sizes& out_pad,
                            const Sizes& dil, int64_t groups) {
  const std::vector<double> x = xt.to_vector(), w = wt.to_vector();
  const int64_t N = xt.size(0), C = xt.size(1), OCG = wt.size(1), cg = C / groups;
  Sizes in{xt.size(2), xt.size(3)}, k{wt.size(2), wt.size(3)}, out(2);
  for (size_t d = 0; d < 2; ++d)
    out[d] = (in[d] - 1) * stride[d] - 2 * pad[d] + dil[d] * (k[d] - 1) + out_pad[d] + 1;
  const Shape yshape{N, OCG * groups, out[0], out[1]};
  std::vector<double> y(size_t(numel_of(yshape)), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (const Sizes& i : indices(in))
        for (int64_t o = 0; o < OCG; ++o)
          for (const Sizes& t : indices(k)) {
            const int64_t py = i[0] * stride[0] - pad[0] + t[0] * dil[0];
            const int64_t px = i[1] * stride[1] - pad[1] + t[1] * dil[1];
            if (py < 0 || py >= out[0] || px < 0 || px >= out[1]) continue;
            y[size_t(offset(yshape, {n, c / cg * OCG + o, py, px}))] +=
                x[size_t(offset(xt.shape(), {n, c, i[0], i[1]}))] *
                w[size_t(offset(wt.shape(), {c, o, t[0], t[1]}))];
          }
  Tensor r = tensor(y, yshape, TensorOptions(DType::Float64));
  return bt.defined() ? add(r, reshape(bt, {-1, 1, 1})) : r;
}

Tensor as_f32(const Tensor& t) { return t.defined() ? t.to(DType::Float32) : t; }

// Gradients of sum(f(inputs) * seq) with respect to every input that requires grad.
std::vector<Tensor> grads_of(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                             std::vector<Tensor> inputs) {
  std::vector<Tensor> leaves;
  for (Tensor& t : inputs)
    if (t.defined()) {
      t = t.detach().requires_grad_();
      leaves.push_back(t);
    }
  Tensor y = f(inputs);
  Tensor up = seq(y.shape(), 0.23, 0.7).to(y.dtype());
  return autograd::grad({sum(mul(y, up))}, leaves);
}

// Printed by PyTorch 1.13 (see MatchPyTorch for the code).
const std::vector<double> kConv1dY{
    1.1771355373676,    3.15923057287309,  3.81265232465026,   2.06694856231431,  1.95935095933629,
    3.17452012165243,   2.19289770488828,  0.0371524716499506, 0.683936066068797, 0.354200901361223,
    -1.6340090758225,   -2.81963950590263, 1.43686066956389,   1.14231423974576,  -1.45950669108269,
    -2.79806186031649,  1.75464861838133,  -0.3681701885484,   -2.53797812546652, -1.82808837718462,
    1.40326572866901,   -1.18874941526124, -1.53738482704489,  0.766462557567437, -2.42486359710429,
    -2.72767682400071,  -1.23875354376954, 0.2113958388367,    -1.00958079774556, 0.152075183992701,
    1.8021878081271,    2.06321191727637,  0.248848145772845,  2.13125521640876,  2.8861182064116,
    1.79090357416304,   -1.29790450380101, 0.256952237969548,  2.29653124247845,  2.05719806301015,
    -0.265989478687144, 1.87356211685078,  2.59832942862195,   0.730209431343282, 1.39041237406079,
    2.7448700780503,    1.69081346727475,  -0.610081177550025};
const std::vector<double> kConv1dGradX{
    0.142928588904837,  0, 2.42543298685134,   0, 2.90982711065661,   0, 2.92337803943142,
    1.20709971813637,   0, -0.781214981532867, 0, -1.47252514708678,  0, -2.34521419099775,
    1.46752545327478,   0, 3.67509752286494,   0, 4.02568000402286,   0, 3.29941640110967,
    -0.149433717271527, 0, -2.39105341732084,  0, -2.97241811840144,  0, -3.16679507914078,
    -1.46458730687424,  0, 0.0903744046574255, 0, 0.866401084969543,  0, 2.28199786742889,
    2.41920022686968,   0, 1.59388841893581,   0, 0.914375288032643,  0, -1.10765625889831,
    -0.484183493445171, 0, 1.29936821853863,   0, 2.1675684059543,    0, 2.85686067515581,
    1.48960219695519,   0, 0.225738926125462,  0, -0.622614865740855, 0, -2.10140694139837};
const std::vector<double> kConv1dGradW{
    0.881300525037509,  2.02996190832401,  1.9609248844581,    0.229067725111425,
    -0.964064140190689, -1.51083870289139, -0.809898081456758, 0.259034279152919,
    1.19515376490522,   1.78354328833195,  1.19194950778863,   -0.0246441955949968,
    -1.86260569018426,  -1.71610553317911, -0.512828402322286, 1.9319452235239,
    2.4082782152299,    1.48097880201996,  0.497650335300512,  -0.601730089915525,
    -1.28203294113751,  -1.40496803257014, -0.701041281654301, 0.36473397262527,
    2.0312081651893,    1.65703170580521,  0.456481382140065,  -2.20320034829044,
    -2.50559204459944,  -1.50062713190187, 1.96344336232042,   2.60945650506372,
    1.83512418600335,   -1.26451832766634, -2.3348350482334,   -2.18295430084972};
const std::vector<double> kConv1dGradB{4.42229085253148,  7.18074509954472,  4.27818938951443,
                                       -1.99711836733265, -6.69797851378043, -6.11842241749338};
const std::vector<double> kConv1dSame{-0.349991546138009, 0.08780814217054,  1.25791121942247,
                                      2.25776191425386,   3.24214179431955,  2.45127905826418,
                                      -0.515213082990206, -1.38592561213756, -0.906613596879244,
                                      -0.304595684399971, 1.87340765081806,  2.66848481345567,
                                      -0.209509154446739, -1.59286765356507, -2.24245714684652,
                                      -2.58854058514432,  -1.20769638188918, 0.44658819689749};
const std::vector<double> kConv3dGradW{
    -1.10055353935926,  2.44056346388718,   6.19005758431914,   4.9479799734931,
    -2.31128545568167,  -5.1677935082426,   4.48549767853319,   5.7528808253207,
    2.59723872464265,   -0.884529377654094, -5.9170450009061,   -5.26534548629825,
    5.49603989205518,   4.90389505726541,   -0.619463564147574, -3.71827088224757,
    -5.15460365897073,  -2.85445667686739,  2.68979173407051,   -0.743815328110221,
    -5.87516062547068,  -5.68082758579051,  0.548482199743746,  3.87497668118124,
    1.44237997896846,   4.56138468962408,   5.53140594779219,   3.01636142249502,
    -4.49118303984572,  -6.22394426749876,  5.55669354546384,   5.33107472453729,
    0.0779534752699723, -3.18838292437089,  -5.5996599804448,   -3.57370025034042,
    5.24615906670823,   3.26369662506477,   -2.99533770424765,  -5.15075215172736,
    -3.59518735223548,  -0.424702511411902, 0.277626168550153,  -3.1929443259024,
    -5.99590537110761,  -4.34409994775415,  3.02719991376979,   5.58732747956624};
const std::vector<double> kConv3dGradB{1.64928264998609, 6.0613131526771, -3.00886582322093,
                                       -5.38640934211159};
const std::vector<double> kConvT2dGradX{
    -1.7709415910843,   -2.31986679191648,  0.844698950827831,  2.2576649188027,
    2.40385613589959,   1.27595784760446,   0.272582874386578,  1.71515391355937,
    1.01354656896252,   -0.832439433252161, -2.54921591529617,  -2.50342631820477,
    -0.716805561518156, -2.1891387770636,   0.115402881713832,  2.02211234388764,
    2.49157731440712,   1.12084817958624,   -0.841490321636048, 0.902713078005996,
    1.71575865682999,   -0.22196561800347,  -2.72778978197616,  -2.39280963859425};
const std::vector<double> kConvT2dGradB{1.64928264998609,  6.0613131526771,  -3.00886582322093,
                                        -5.38640934211159, 4.21706466086973, 4.44050042618148};
const std::vector<double> kConvT2dBigOutputPadding{
    1.17088499270864,  1.21010274189789,   0.814052202822025,   0.432387497063763,
    0.397402614288356, 0.685570216412675,  0.957095666624352,   0.903703818809028,
    0.453764607287842, 0.118114405101114,  1.67817072155594,    1.57519839736157,
    0.77245846918306,  0.181337948654639,  0.198412967253233,   0.197114769526154,
    0.118269218852694, 0.0513932413087666, -0.0932334267754419, -0.151409576264897};

}  // namespace

// ---------------- the kernel against the composite oracle ----------------

TEST(ConvOp, Conv2dMatchesCompositeOverGrid) {
  struct Channels {
    int64_t c, oc, groups;
  };
  const std::vector<Channels> channels{{4, 6, 1}, {4, 6, 2}, {4, 4, 4}, {3, 6, 3}};
  const std::vector<Size2> kernels{{3, 3}, {1, 1}, {2, 3}};
  const std::vector<Size2> strides{{1, 1}, {2, 1}};
  const std::vector<Size2> paddings{{0, 0}, {1, 2}};
  const std::vector<Size2> dilations{{1, 1}, {2, 1}};
  int checked = 0;
  for (const Channels& ch : channels)
    for (const Size2& k : kernels)
      for (const Size2& s : strides)
        for (const Size2& p : paddings)
          for (const Size2& d : dilations)
            for (int64_t n : {1, 3}) {
              SCOPED_TRACE("channels " + std::to_string(ch.c) + "->" + std::to_string(ch.oc) +
                           " groups " + std::to_string(ch.groups) + " kernel " + str({k[0], k[1]}) +
                           " stride " + str({s[0], s[1]}) + " padding " + str({p[0], p[1]}) +
                           " dilation " + str({d[0], d[1]}) + " batch " + std::to_string(n));
              const Tensor x = seq({n, ch.c, 5, 6}, 0.37, 0.1);
              const Tensor w = seq({ch.oc, ch.c / ch.groups, k[0], k[1]}, 0.91, 0.3);
              const Tensor b = seq({ch.oc}, 1.3, 0.5);
              const std::array<int64_t, 4> pads{p[0], p[0], p[1], p[1]};
              auto kernel = [&](const std::vector<Tensor>& in) {
                return F::conv2d(in[0], in[1], in[2], s, p, d, ch.groups);
              };
              auto oracle = [&](const std::vector<Tensor>& in) {
                return F::detail::conv2d_composite(in[0], in[1], in[2], s, pads, d, ch.groups);
              };
              expect_close(kernel({x, w, b}), oracle({x, w, b}), 1e-12, 1e-12, "float64");
              expect_close(kernel({as_f32(x), as_f32(w), as_f32(b)}), oracle({x, w, b}), 1e-5, 1e-5,
                           "float32");
              const std::vector<Tensor> gk = grads_of(kernel, {x, w, b});
              const std::vector<Tensor> go = grads_of(oracle, {x, w, b});
              for (size_t i = 0; i < 3; ++i) expect_close(gk[i], go[i], 1e-12, 1e-12, "gradient");
              ++checked;
            }
  EXPECT_EQ(checked, 4 * 3 * 2 * 2 * 2 * 2);
}

TEST(ConvOp, ChannelsLastAndStridedInputs) {
  const Tensor x = seq({2, 4, 5, 6}, 0.37, 0.1), w = seq({6, 2, 3, 3}, 0.91, 0.3);
  const Tensor b = seq({6}, 1.3, 0.5);
  const Tensor ref = F::detail::conv2d_composite(x, w, b, {2, 1}, {1, 1, 0, 0}, {1, 2}, 2);
  for (DType dt : {DType::Float64, DType::Float32}) {
    SCOPED_TRACE(dtype_name(dt));
    const double tol = dt == DType::Float64 ? 1e-12 : 1e-5;
    // channels-last in, channels-last out
    const Tensor xl = contiguous(x.to(dt), MemoryFormat::ChannelsLast);
    ASSERT_FALSE(xl.is_contiguous());
    const Tensor yl = F::conv2d(xl, w.to(dt), b.to(dt), {2, 1}, {1, 0}, {1, 2}, 2);
    EXPECT_TRUE(is_contiguous(yl, MemoryFormat::ChannelsLast));
    expect_close(yl, ref, tol, tol, "channels-last");
    // a transposed input and a stepped weight (neither channels-last nor contiguous)
    const Tensor xt = transpose(contiguous(transpose(x.to(dt), 2, 3)), 2, 3);
    ASSERT_FALSE(xt.is_contiguous());
    expect_close(F::conv2d(xt, w.to(dt), b.to(dt), {2, 1}, {1, 0}, {1, 2}, 2), ref, tol, tol,
                 "transposed input");
    const Tensor wstep = cat({w, w}, 3).to(dt).slice(3, 0, 6, 2);  // every other column
    const Tensor wexp = cat({w, w}, 3).slice(3, 0, 6, 2);
    ASSERT_FALSE(wstep.is_contiguous());
    expect_close(F::conv2d(xt, wstep, {}, {2, 1}, {1, 0}, {1, 2}, 2),
                 F::detail::conv2d_composite(x, wexp, {}, {2, 1}, {1, 1, 0, 0}, {1, 2}, 2), tol,
                 tol, "stepped weight");
  }
  // channels-last gradients equal the contiguous ones
  auto f = [](const std::vector<Tensor>& in) {
    return F::conv2d(contiguous(in[0], MemoryFormat::ChannelsLast), in[1], in[2], {1, 2}, {1, 1},
                     {2, 1}, 2);
  };
  auto g = [](const std::vector<Tensor>& in) {
    return F::detail::conv2d_composite(in[0], in[1], in[2], {1, 2}, {1, 1, 1, 1}, {2, 1}, 2);
  };
  const std::vector<Tensor> gf = grads_of(f, {x, w, b}), gg = grads_of(g, {x, w, b});
  for (size_t i = 0; i < 3; ++i) expect_close(gf[i], gg[i], 1e-12, 1e-12, "channels-last grad");
  // 3-D channels-last
  const Tensor x3 = seq({2, 2, 3, 4, 5}, 0.37, 0.1), w3 = seq({3, 2, 2, 2, 3}, 0.91, 0.3);
  const Tensor y3 =
      F::conv3d(contiguous(x3, MemoryFormat::ChannelsLast3d), w3, {}, {1, 1, 2}, {1, 0, 1});
  EXPECT_TRUE(is_contiguous(y3, MemoryFormat::ChannelsLast3d));
  expect_close(y3, naive_conv(x3, w3, {}, {1, 1, 2}, {1, 0, 1}, {1, 0, 1}, {1, 1, 1}, 1), 1e-12,
               1e-12, "channels-last 3d");
}

TEST(ConvOp, Winograd3x3MatchesFloat64) {
  // float32 3x3 convolutions with stride 1, dilation 1 and >= 16 channels per group run
  // Winograd F(2x2, 3x3) (src/cpu/conv_winograd.cpp) for the forward and both gradients: odd
  // and even sizes (partial tiles), paddings 0-2, one and several samples, groups.
  struct Case {
    Shape x;
    int64_t oc, groups;
    Size2 padding;
  };
  for (const Case& c : {Case{{3, 16, 7, 6}, 16, 1, {1, 1}}, Case{{1, 32, 5, 8}, 48, 2, {0, 2}},
                        Case{{4, 16, 9, 9}, 24, 1, {2, 0}}, Case{{2, 17, 4, 3}, 16, 1, {1, 1}},
                        // more than 16 tiles per row (the AVX-512 transforms take 16 at a time)
                        Case{{2, 16, 5, 37}, 16, 1, {1, 1}}, Case{{1, 16, 4, 40}, 16, 1, {0, 2}}}) {
    SCOPED_TRACE("input " + shape_str(c.x) + " out " + std::to_string(c.oc) + " groups " +
                 std::to_string(c.groups) + " padding " + str({c.padding[0], c.padding[1]}));
    const Tensor x = seq(c.x, 0.37, 0.1), w = seq({c.oc, c.x[1] / c.groups, 3, 3}, 0.91, 0.3);
    const Tensor b = seq({c.oc}, 1.3, 0.5);
    auto f = [&](const std::vector<Tensor>& in) {
      return F::conv2d(in[0], in[1], in[2], {1, 1}, c.padding, {1, 1}, c.groups);
    };
    const std::vector<Tensor> g64 = grads_of(f, {x, w, b});
    const std::vector<Tensor> g32 = grads_of(f, {as_f32(x), as_f32(w), as_f32(b)});
    // Sums of 16-48 * 9 products of magnitude <= 1: float32 rounding is ~1e-6 of that.
    expect_close(f({as_f32(x), as_f32(w), as_f32(b)}), f({x, w, b}), 2e-5, 1e-5, "forward");
    expect_close(g32[0], g64[0], 2e-5, 1e-5, "input gradient");
    expect_close(g32[1], g64[1], 1e-4, 1e-5, "weight gradient");
    expect_close(g32[2], g64[2], 1e-4, 1e-5, "bias gradient");
  }
}

TEST(ConvOp, HalfPrecisionComputesInFloat32) {
  const Tensor x = seq({2, 4, 6, 5}, 0.37, 0.1), w = seq({6, 2, 3, 3}, 0.91, 0.3);
  const Tensor b = seq({6}, 1.3, 0.5);
  const Tensor ref = naive_conv(x, w, b, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 2);
  for (auto [dt, tol] : {std::pair{DType::Float16, 1e-2}, std::pair{DType::BFloat16, 8e-2}}) {
    SCOPED_TRACE(dtype_name(dt));
    // The inputs are rounded to dt first: compare with the float64 result of rounded inputs.
    const Tensor xr = x.to(dt), wr = w.to(dt), br = b.to(dt);
    const Tensor y = F::conv2d(xr, wr, br, {1, 1}, {1, 1}, {1, 1}, 2);
    ASSERT_EQ(y.dtype(), dt);
    expect_close(y.to(DType::Float64),
                 naive_conv(xr.to(DType::Float64), wr.to(DType::Float64), br.to(DType::Float64),
                            {1, 1}, {1, 1}, {1, 1}, {1, 1}, 2),
                 tol, tol);
    expect_close(y.to(DType::Float64), ref, 4 * tol, 4 * tol, "vs unrounded");
  }
}

TEST(ConvOp, EmptyBatchAndZeroWeightGradient) {
  Tensor x = zeros({0, 4, 5, 5}, TensorOptions(DType::Float64));
  Tensor w = seq({6, 2, 3, 3}, 0.91, 0.3, true), b = seq({6}, 1.3, 0.5, true);
  Tensor y = F::conv2d(x, w, b, {1, 1}, {1, 1}, {1, 1}, 2);
  EXPECT_EQ(y.shape(), (Shape{0, 6, 5, 5}));
  sum(y).backward();
  expect_close(w.grad(), zeros({6, 2, 3, 3}, TensorOptions(DType::Float64)), 0, 0);
  expect_close(b.grad(), zeros({6}, TensorOptions(DType::Float64)), 0, 0);
}

// ---------------- conv1d, conv3d, conv_transpose2d against direct loops ----------------

TEST(Conv1d, MatchesDirectLoopOverGrid) {
  int checked = 0, too_small = 0;
  for (auto [c, oc, groups] : std::vector<std::array<int64_t, 3>>{{4, 6, 1}, {4, 6, 2}, {4, 4, 4}})
    for (int64_t k : {1, 2, 3})
      for (int64_t s : {1, 2})
        for (const std::string& pad : std::vector<std::string>{"0", "2", "same", "valid"})
          for (int64_t d : {1, 4})
            for (bool with_bias : {false, true}) {
              if (pad == "same" && s != 1) continue;
              SCOPED_TRACE("channels " + std::to_string(c) + "->" + std::to_string(oc) +
                           " groups " + std::to_string(groups) + " kernel " + std::to_string(k) +
                           " stride " + std::to_string(s) + " padding " + pad + " dilation " +
                           std::to_string(d) + (with_bias ? " bias" : ""));
              const Tensor x = seq({2, c, 7}, 0.37, 0.1), w = seq({oc, c / groups, k}, 0.91, 0.3);
              const Tensor b = with_bias ? seq({oc}, 1.3, 0.5) : Tensor();
              int64_t before = pad == "2" ? 2 : 0, after = before;
              if (pad == "same") {
                before = d * (k - 1) / 2;
                after = d * (k - 1) - before;
              }
              const Tensor ref = naive_conv(x, w, b, {s}, {before}, {after}, {d}, groups);
              auto run = [&] {
                if (pad == "same" || pad == "valid")
                  return F::conv1d(x, w, b, s, pad.c_str(), d, groups);
                return F::conv1d(x, w, b, s, before, d, groups);
              };
              if (!ref.defined()) {
                EXPECT_THROW_MSG(run(), ValueError, "conv1d: output size", "is too small");
                ++too_small;
                continue;
              }
              expect_close(run(), ref, 1e-12, 1e-12);
              // unbatched: the first sample
              if (pad != "same" && pad != "valid")
                expect_close(F::conv1d(select(x, 0, 0), w, b, s, before, d, groups),
                             select(ref, 0, 0), 1e-12, 1e-12, "unbatched");
              ++checked;
            }
  EXPECT_GT(checked, 100);
  EXPECT_GT(too_small, 0);
}

TEST(Conv3d, MatchesDirectLoopOverGrid) {
  int checked = 0;
  for (auto [c, oc, groups] : std::vector<std::array<int64_t, 3>>{{2, 4, 1}, {2, 4, 2}})
    for (const Size3& k : {Size3{1, 1, 1}, Size3{2, 3, 2}, Size3{3, 1, 2}})
      for (const Size3& s : {Size3{1, 1, 1}, Size3{2, 1, 2}})
        for (const std::string& pad : std::vector<std::string>{"0", "1x0x1", "same"})
          for (const Size3& d : {Size3{1, 1, 1}, Size3{1, 2, 1}}) {
            if (pad == "same" && s != Size3{1, 1, 1}) continue;
            SCOPED_TRACE("groups " + std::to_string(groups) + " kernel " + str({k[0], k[1], k[2]}) +
                         " stride " + str({s[0], s[1], s[2]}) + " padding " + pad + " dilation " +
                         str({d[0], d[1], d[2]}));
            const Tensor x = seq({2, c, 4, 5, 4}, 0.37, 0.1);
            const Tensor w = seq({oc, c / groups, k[0], k[1], k[2]}, 0.91, 0.3);
            const Tensor b = seq({oc}, 1.3, 0.5);
            Sizes before(3, 0), after(3, 0);
            if (pad == "1x0x1") before = after = {1, 0, 1};
            if (pad == "same")
              for (size_t i = 0; i < 3; ++i) {
                before[i] = d[i] * (k[i] - 1) / 2;
                after[i] = d[i] * (k[i] - 1) - before[i];
              }
            const Tensor ref =
                naive_conv(x, w, b, {s[0], s[1], s[2]}, before, after, {d[0], d[1], d[2]}, groups);
            const Tensor y =
                pad == "same" ? F::conv3d(x, w, b, s, "same", d, groups)
                              : F::conv3d(x, w, b, s, {before[0], before[1], before[2]}, d, groups);
            expect_close(y, ref, 1e-12, 1e-12);
            ++checked;
          }
  EXPECT_EQ(checked, 2 * 3 * (2 * 2 * 2 + 2));
}

TEST(ConvTranspose2d, MatchesDirectLoopOverGrid) {
  int checked = 0, rejected = 0;
  for (auto [c, oc, groups] : std::vector<std::array<int64_t, 3>>{{4, 6, 1}, {4, 6, 2}})
    for (const Size2& k : {Size2{3, 3}, Size2{2, 1}})
      for (const Size2& s : {Size2{1, 1}, Size2{2, 1}, Size2{3, 2}})
        for (const Size2& p : {Size2{0, 0}, Size2{1, 1}, Size2{2, 0}})
          for (const Size2& op : {Size2{0, 0}, Size2{1, 0}, Size2{2, 1}})
            for (const Size2& d : {Size2{1, 1}, Size2{3, 2}}) {
              SCOPED_TRACE("groups " + std::to_string(groups) + " kernel " + str({k[0], k[1]}) +
                           " stride " + str({s[0], s[1]}) + " padding " + str({p[0], p[1]}) +
                           " output_padding " + str({op[0], op[1]}) + " dilation " +
                           str({d[0], d[1]}));
              const Tensor x = seq({2, c, 3, 4}, 0.37, 0.1);
              const Tensor w = seq({c, oc / groups, k[0], k[1]}, 0.91, 0.3);
              const Tensor b = seq({oc}, 1.3, 0.5);
              auto run = [&] { return F::conv_transpose2d(x, w, b, s, p, op, groups, d); };
              if ((op[0] >= s[0] && op[0] >= d[0]) || (op[1] >= s[1] && op[1] >= d[1])) {
                EXPECT_THROW_MSG(run(), ValueError,
                                 "conv_transpose2d: output padding must be smaller than either "
                                 "stride or dilation");
                ++rejected;
                continue;
              }
              const Tensor ref = naive_conv_transpose(x, w, b, {s[0], s[1]}, {p[0], p[1]},
                                                      {op[0], op[1]}, {d[0], d[1]}, groups);
              if (ref.size(2) < 1 || ref.size(3) < 1) {
                EXPECT_THROW_MSG(run(), ValueError, "conv_transpose2d: output size",
                                 "is too small");
                continue;
              }
              expect_close(run(), ref, 1e-12, 1e-12);
              ++checked;
            }
  EXPECT_GT(checked, 150);
  EXPECT_GT(rejected, 0);
}

TEST(ConvTranspose2d, IsTheAdjointOfConv2d) {
  // <conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for the output_padding that restores x's
  // size: (5 + 2 - 3) % 2 = 0 rows and (6 + 2 - 5) % 2 = 1 column are not reached by the stride.
  const Tensor x = seq({2, 4, 5, 6}, 0.37, 0.1), w = seq({6, 2, 3, 5}, 0.91, 0.3);
  const Tensor y = F::conv2d(x, w, {}, {2, 2}, {1, 1}, {1, 1}, 2);
  const Tensor u = seq(y.shape(), 0.23, 0.7);
  const Tensor xt = F::conv_transpose2d(u, w, {}, {2, 2}, {1, 1}, {0, 1}, 2);
  ASSERT_EQ(xt.shape(), x.shape());
  EXPECT_NEAR(sum(mul(y, u)).item<double>(), sum(mul(x, xt)).item<double>(), 1e-12);
}

// ---------------- against PyTorch ----------------

TEST(ConvOps, MatchPyTorch) {
  // x = seq((2,4,7), .37, .1); w = seq((6,2,3), .91, .3); b = seq((6,), 1.3, .5), all
  // requiring grad; y = F.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2);
  // (y * seq(y.shape, .23, .7)).sum().backward()
  {
    Tensor x = seq({2, 4, 7}, 0.37, 0.1, true), w = seq({6, 2, 3}, 0.91, 0.3, true);
    Tensor b = seq({6}, 1.3, 0.5, true);
    Tensor y = F::conv1d(x, w, b, 2, 2, 2, 2);
    expect_values(y, {2, 6, 4}, kConv1dY, 1e-12);
    sum(mul(y, seq(y.shape(), 0.23, 0.7))).backward();
    expect_values(x.grad(), x.shape(), kConv1dGradX, 1e-12);
    expect_values(w.grad(), w.shape(), kConv1dGradW, 1e-12);
    expect_values(b.grad(), b.shape(), kConv1dGradB, 1e-12);
  }
  // F.conv1d(seq((1,2,6), .37, .1), seq((3,2,4), .91, .3), padding='same'): 1 before, 2 after
  expect_values(F::conv1d(seq({1, 2, 6}, 0.37, 0.1), seq({3, 2, 4}, 0.91, 0.3), {}, 1, "same"),
                {1, 3, 6}, kConv1dSame, 1e-12);
  // x = seq((1,2,3,4,5), .37, .1); w = seq((4,1,2,3,2), .91, .3); b = seq((4,), 1.3, .5);
  // y = F.conv3d(x, w, b, stride=(1,2,1), padding=(1,0,1), dilation=(1,1,2), groups=2), then
  // the same backward
  {
    Tensor x = seq({1, 2, 3, 4, 5}, 0.37, 0.1, true), w = seq({4, 1, 2, 3, 2}, 0.91, 0.3, true);
    Tensor b = seq({4}, 1.3, 0.5, true);
    Tensor y = F::conv3d(x, w, b, {1, 2, 1}, {1, 0, 1}, {1, 1, 2}, 2);
    ASSERT_EQ(y.shape(), (Shape{1, 4, 4, 1, 5}));
    EXPECT_NEAR(sum(mul(y, y)).item<double>(), 344.730915311506, 1e-10);
    sum(mul(y, seq(y.shape(), 0.23, 0.7))).backward();
    EXPECT_NEAR(sum(mul(x.grad(), x.grad())).item<double>(), 336.256302617739, 1e-10);
    expect_values(w.grad(), w.shape(), kConv3dGradW, 1e-12);
    expect_values(b.grad(), b.shape(), kConv3dGradB, 1e-12);
  }
  // x = seq((1,4,3,2), .37, .1); w = seq((4,3,2,3), .91, .3); b = seq((6,), 1.3, .5);
  // y = F.conv_transpose2d(x, w, b, stride=(2,1), padding=(1,1), output_padding=(1,0),
  //                        groups=2, dilation=(1,2)), then the same backward
  {
    Tensor x = seq({1, 4, 3, 2}, 0.37, 0.1, true), w = seq({4, 3, 2, 3}, 0.91, 0.3, true);
    Tensor b = seq({6}, 1.3, 0.5, true);
    Tensor y = F::conv_transpose2d(x, w, b, {2, 1}, {1, 1}, {1, 0}, 2, {1, 2});
    ASSERT_EQ(y.shape(), (Shape{1, 6, 5, 4}));
    EXPECT_NEAR(sum(mul(y, y)).item<double>(), 150.268066771348, 1e-10);
    sum(mul(y, seq(y.shape(), 0.23, 0.7))).backward();
    expect_values(x.grad(), x.shape(), kConvT2dGradX, 1e-12);
    EXPECT_NEAR(sum(mul(w.grad(), w.grad())).item<double>(), 61.2482791596444, 1e-10);
    expect_values(b.grad(), b.shape(), kConvT2dGradB, 1e-12);
  }
  // output_padding 1 >= stride 1 (allowed: below dilation 3):
  // F.conv_transpose2d(seq((1,2,3,3), .37, .1), seq((2,1,2,2), .91, .3), stride=1, padding=1,
  //                    output_padding=(1,0), dilation=(3,1), groups=2)
  expect_values(F::conv_transpose2d(seq({1, 2, 3, 3}, 0.37, 0.1), seq({2, 1, 2, 2}, 0.91, 0.3), {},
                                    {1, 1}, {1, 1}, {1, 0}, 2, {3, 1}),
                {1, 2, 5, 2}, kConvT2dBigOutputPadding, 1e-12);
}

// ---------------- gradients, first and second order ----------------

TEST(Conv1d, Gradcheck) {
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::conv1d(in[0], in[1], in[2], 2, 1, 2, 2)};
      },
      {seq({2, 4, 7}, 0.37, 0.1, true), seq({4, 2, 3}, 0.91, 0.3, true), seq({4}, 1.3, 0.5, true)});
  expect_gradcheck(  // 'same' with an even kernel: asymmetric padding
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::conv1d(in[0], in[1], {}, 1, "same", 1, 1)};
      },
      {seq({1, 2, 6}, 0.37, 0.1, true), seq({3, 2, 4}, 0.91, 0.3, true)});
  expect_gradcheck(  // unbatched, depthwise, 'valid'
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::conv1d(in[0], in[1], in[2], 1, "valid", 1, 3)};
      },
      {seq({3, 6}, 0.37, 0.1, true), seq({3, 1, 2}, 0.91, 0.3, true), seq({3}, 1.3, 0.5, true)});
}

TEST(Conv2d, GradcheckOverOptions) {
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::conv2d(in[0], in[1], in[2], {2, 1}, {1, 0}, {1, 2}, 2)};
      },
      {seq({2, 4, 5, 5}, 0.37, 0.1, true), seq({4, 2, 2, 3}, 0.91, 0.3, true),
       seq({4}, 1.3, 0.5, true)});
  expect_gradcheck(  // pointwise (no im2col), groups
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::conv2d(in[0], in[1], {}, {1, 1}, {0, 0}, {1, 1}, 2)};
      },
      {seq({2, 4, 3, 3}, 0.37, 0.1, true), seq({6, 2, 1, 1}, 0.91, 0.3, true)});
  expect_gradcheck(  // 'same' with an even kernel, dilated, channels-last input
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::conv2d(contiguous(in[0], MemoryFormat::ChannelsLast), in[1],
                                             in[2], {1, 1}, "same", {2, 1})};
      },
      {seq({1, 2, 5, 4}, 0.37, 0.1, true), seq({2, 2, 2, 2}, 0.91, 0.3, true),
       seq({2}, 1.3, 0.5, true)});
}

TEST(Conv3d, Gradcheck) {
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{
            F::conv3d(in[0], in[1], in[2], {1, 2, 1}, {1, 0, 1}, {1, 1, 2}, 2)};
      },
      {seq({1, 2, 3, 4, 4}, 0.37, 0.1, true), seq({2, 1, 2, 2, 2}, 0.91, 0.3, true),
       seq({2}, 1.3, 0.5, true)});
  expect_gradcheck(  // unbatched, 'same'
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::conv3d(in[0], in[1], {}, {1, 1, 1}, "same")};
      },
      {seq({2, 3, 3, 2}, 0.37, 0.1, true), seq({1, 2, 2, 3, 1}, 0.91, 0.3, true)});
}

TEST(ConvTranspose2d, Gradcheck) {
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{
            F::conv_transpose2d(in[0], in[1], in[2], {2, 2}, {1, 1}, {1, 0}, 2, {1, 2})};
      },
      {seq({2, 4, 3, 2}, 0.37, 0.1, true), seq({4, 2, 2, 3}, 0.91, 0.3, true),
       seq({4}, 1.3, 0.5, true)});
  expect_gradcheck(  // unbatched; output_padding >= stride (below dilation): the cropping path
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{
            F::conv_transpose2d(in[0], in[1], {}, {1, 1}, {1, 0}, {1, 0}, 1, {3, 1})};
      },
      {seq({2, 3, 3}, 0.37, 0.1, true), seq({2, 1, 2, 2}, 0.91, 0.3, true)});
}

TEST(ConvOp, GradientOpsGradcheck) {
  // The two gradient ops as functions of both their inputs.
  ConvGeometry g;
  g.stride = {2, 1, 1};
  g.padding = {1, 0, 0};
  g.dilation = {1, 2, 1};
  g.groups = 2;
  expect_gradcheck(
      [g](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{convolution_backward_input(in[0], in[1], g, {2, 4, 5, 5})};
      },
      {seq({2, 4, 3, 3}, 0.37, 0.1, true), seq({4, 2, 2, 2}, 0.91, 0.3, true)});
  expect_gradcheck(
      [g](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{convolution_backward_weight(in[0], in[1], g, {4, 2, 2, 2})};
      },
      {seq({2, 4, 5, 5}, 0.37, 0.1, true), seq({2, 4, 3, 3}, 0.91, 0.3, true)});
}

// ---------------- errors ----------------

TEST(ConvOps, Errors) {
  const Tensor x1 = seq({1, 3, 5}, 0.1, 0), w1 = seq({4, 3, 3}, 0.2, 0);
  EXPECT_THROW_MSG(F::conv1d(x1, seq({4, 2, 3}, 0.2, 0)), ValueError,
                   "conv1d: input has 3 channels but weight expects 2 (groups=1)");
  EXPECT_THROW_MSG(F::conv1d(x1, w1, {}, 1, 0, 3), ValueError,
                   "conv1d: output size -1 is too small (input 5, kernel 3, stride 1, padding 0, "
                   "dilation 3)");
  EXPECT_THROW_MSG(F::conv1d(seq({3, 5, 5, 5}, 0.1, 0), w1), ValueError,
                   "conv1d: expected a 2-D [C, L] or 3-D [N, C, L] input, got [3, 5, 5, 5]");
  EXPECT_THROW_MSG(F::conv1d(x1, w1, {}, 2, "same"), ValueError,
                   "conv1d: padding='same' is not supported for strided convolutions");
  EXPECT_THROW_MSG(F::conv1d(x1, w1, {}, 1, -1), ValueError,
                   "conv1d: padding must be non-negative");

  const Tensor x3 = seq({1, 2, 3, 4, 5}, 0.1, 0), w3 = seq({4, 2, 2, 2, 2}, 0.2, 0);
  EXPECT_THROW_MSG(F::conv3d(x3, seq({4, 2, 2, 2}, 0.2, 0)), ValueError,
                   "conv3d: expected a 5-D weight [out_channels, in_channels / groups, kD, kH, "
                   "kW], got [4, 2, 2, 2]");
  EXPECT_THROW_MSG(F::conv3d(x3, w3, {}, {1, 1, 1}, {0, 0, 0}, {4, 1, 1}), ValueError,
                   "conv3d: output size -1x3x4 is too small (input 3x4x5, kernel 2x2x2, stride 1, "
                   "padding 0, dilation 4x1x1)");
  EXPECT_THROW_MSG(F::conv3d(x3, w3, {}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 2), ValueError,
                   "conv3d: input has 2 channels but weight expects 4 (groups=2)");
  EXPECT_THROW_MSG(F::conv3d(x3, w3, seq({3}, 0.1, 0)), ValueError,
                   "conv3d: expected a bias of shape [4]");

  const Tensor xt = seq({1, 4, 3, 3}, 0.1, 0), wt = seq({4, 3, 3, 3}, 0.2, 0);
  EXPECT_THROW_MSG(F::conv_transpose2d(seq({1, 3, 3, 3}, 0.1, 0), wt), ValueError,
                   "conv_transpose2d: input has 3 channels but weight expects 4 (groups=1)");
  EXPECT_THROW_MSG(F::conv_transpose2d(xt, wt, {}, {2, 2}, {0, 0}, {2, 0}), ValueError,
                   "conv_transpose2d: output padding must be smaller than either stride or "
                   "dilation, got output_padding 2x0, stride 2x2, dilation 1x1");
  EXPECT_THROW_MSG(F::conv_transpose2d(xt, wt, {}, {1, 1}, {3, 3}), ValueError,
                   "conv_transpose2d: output size -1x-1 is too small (input 3x3, kernel 3x3, "
                   "stride 1, padding 3, dilation 1, output_padding 0)");
  EXPECT_THROW_MSG(F::conv_transpose2d(xt, seq({4, 3, 3, 3}, 0.2, 0), seq({4}, 0.1, 0), {1, 1},
                                       {0, 0}, {0, 0}, 2),
                   ValueError, "conv_transpose2d: expected a bias of shape [6]");
  EXPECT_THROW_MSG(
      F::conv_transpose2d(xt, seq({3, 3, 3, 3}, 0.2, 0), {}, {1, 1}, {0, 0}, {0, 0}, 2), ValueError,
      "conv_transpose2d: weight [3, 3, 3, 3] has 3 input channels", "not divisible by groups=2");
  EXPECT_THROW_MSG(F::conv_transpose2d(xt, wt.to(DType::Float32)), TypeError,
                   "conv_transpose2d: expected input, weight and bias to have the same dtype");

  // The ops themselves check what reaches them.
  ConvGeometry g;
  EXPECT_THROW_MSG(convolution(seq({1, 4, 5, 5}, 0.1, 0), seq({2, 3, 3, 3}, 0.2, 0), g), ValueError,
                   "convolution: input [1, 4, 5, 5] and weight [2, 3, 3, 3]", "groups=1");
  EXPECT_THROW_MSG(convolution_backward_input(seq({1, 2, 4, 4}, 0.1, 0), seq({2, 4, 3, 3}, 0.2, 0),
                                              g, {1, 4, 5, 5}),
                   ValueError, "convolution_backward_input:", "give spatial size 3",
                   "the output is [1, 2, 4, 4]");
  EXPECT_THROW_MSG(
      convolution_backward_weight(seq({1, 4, 5, 5}, 0.1, 0),
                                  seq({1, 2, 3, 3}, 0.2, 0).to(DType::Float32), g, {2, 4, 3, 3}),
      TypeError, "convolution_backward_weight: expected tensors of one dtype");
  g.groups = 0;
  EXPECT_THROW_MSG(convolution(seq({1, 4, 5, 5}, 0.1, 0), seq({2, 4, 3, 3}, 0.2, 0), g), ValueError,
                   "convolution: groups must be positive, got 0");
}
