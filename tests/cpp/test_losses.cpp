// Loss and distance functions (kiln::nn::functional): values for every reduction against
// PyTorch, weights / ignore_index / label_smoothing / pos_weight / probability targets, extreme
// inputs (no inf or NaN), fp64 gradchecks (first and second order) and error messages.
//
// Reference numbers come from PyTorch 1.13 (Debian python3-torch, torch.float64 inputs unless
// said otherwise), computed by the call written next to each of them, with
//   import torch, torch.nn.functional as F; t = lambda v: torch.tensor(v, dtype=torch.float64)
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kiln/autograd.h"
#include "kiln/gradcheck.h"
#include "kiln/nn/functional.h"
#include "kiln/ops.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::testing;
namespace F = kiln::nn::functional;

namespace {

constexpr double kTol = 1e-10;

Tensor f64(const std::vector<double>& v, const Shape& shape, bool requires_grad = false) {
  return tensor(v, shape, TensorOptions(DType::Float64, Device::cpu(), requires_grad));
}
Tensor f32(const std::vector<double>& v, const Shape& shape, bool requires_grad = false) {
  return tensor(v, shape, TensorOptions(DType::Float32, Device::cpu(), requires_grad));
}
Tensor i64(const std::vector<int64_t>& v) { return tensor(v); }

// One loss for the three reductions: per element ("none"), "mean" and "sum".
struct Ref {
  Shape shape;
  std::vector<double> none;
  double mean;
  double sum;
};

void expect_reductions(const std::function<Tensor(const std::string&)>& loss, const Ref& ref,
                       double tol = kTol) {
  SCOPED_TRACE("reductions");
  expect_values(loss("none"), ref.shape, ref.none, tol);
  expect_values(loss("mean"), {}, {ref.mean}, tol);
  expect_values(loss("sum"), {}, {ref.sum}, tol);
}

// fp64 gradcheck of `loss` for every reduction, first and second order.
void expect_gradcheck(
    const std::function<Tensor(const std::vector<Tensor>&, const std::string&)>& loss,
    const std::vector<Tensor>& inputs) {
  for (const std::string r : {"none", "mean", "sum"}) {
    GradcheckOptions opt;
    opt.check_second_order = true;
    GradcheckResult res =
        gradcheck([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{loss(in, r)}; },
                  inputs, opt);
    EXPECT_TRUE(res.ok) << "reduction " << r << ": " << res.message;
  }
}

void expect_all_finite(const Tensor& t) {
  ASSERT_TRUE(t.defined());
  for (double v : t.to_vector()) EXPECT_TRUE(std::isfinite(v)) << t;
}

// ---- shared inputs ----
// Regression: inp = t([0.5, -1.2, 3.0, 0.0, 2.5, -0.3]).reshape(2, 3),
//             tgt = t([1.0, 0.3, 0.2, 0.05, 2.0, -2.0]).reshape(2, 3)
Tensor reg_input(bool rg = false) { return f64({0.5, -1.2, 3.0, 0.0, 2.5, -0.3}, {2, 3}, rg); }
Tensor reg_target(bool rg = false) { return f64({1.0, 0.3, 0.2, 0.05, 2.0, -2.0}, {2, 3}, rg); }

// Binary: p = t([0.1, 0.9, 0.5, 0.3, 0.99, 0.001]).reshape(2, 3),
//         y = t([0.0, 1.0, 0.3, 1.0, 0.0, 1.0]).reshape(2, 3), w = t([1.0, 2.0, 0.5]),
//         x = t([-2.0, 0.5, 3.0, 0.0, -0.7, 1.5]).reshape(2, 3), pw = t([2.0, 0.5, 1.0])
Tensor bin_probs(bool rg = false) { return f64({0.1, 0.9, 0.5, 0.3, 0.99, 0.001}, {2, 3}, rg); }
Tensor bin_target(bool rg = false) { return f64({0.0, 1.0, 0.3, 1.0, 0.0, 1.0}, {2, 3}, rg); }
Tensor bin_weight() { return f64({1.0, 2.0, 0.5}, {3}); }
Tensor bin_logits(bool rg = false) { return f64({-2.0, 0.5, 3.0, 0.0, -0.7, 1.5}, {2, 3}, rg); }
Tensor bin_pos_weight() { return f64({2.0, 0.5, 1.0}, {3}); }

// Classes: logits = t([1.0, 2.0, 0.5, -1.0, 0.3, 0.3, 2.5, -0.5, 1.0, 0.0, 0.1, -0.2]).reshape(4,
// 3)
//          ti = torch.tensor([2, 0, 1, 2]), tig = torch.tensor([2, -100, 1, 2]),
//          cw = t([0.2, 1.0, 3.0])
Tensor cls_logits(bool rg = false) {
  return f64({1.0, 2.0, 0.5, -1.0, 0.3, 0.3, 2.5, -0.5, 1.0, 0.0, 0.1, -0.2}, {4, 3}, rg);
}
Tensor cls_target() { return i64({2, 0, 1, 2}); }
Tensor cls_target_ignored() { return i64({2, -100, 1, 2}); }
Tensor cls_weight() { return f64({0.2, 1.0, 3.0}, {3}); }
// probs = t([0.7, 0.2, 0.1, 0.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.3, 0.3, 0.4]).reshape(4, 3)
Tensor cls_probs(bool rg = false) {
  return f64({0.7, 0.2, 0.1, 0.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.3, 0.3, 0.4}, {4, 3}, rg);
}

// Embeddings, [3, 4] each (the same expressions in Python and C++ give the same doubles):
//   a = t([0.1 * ((i * 7) % 11) - 0.4 for i in range(12)]).reshape(3, 4)
//   p = t([0.1 * ((i * 5) % 13) - 0.6 for i in range(12)]).reshape(3, 4)
//   n = t([0.1 * ((i * 3) % 7) - 0.2 for i in range(12)]).reshape(3, 4)
Tensor emb(int mul, int mod, double off, bool rg = false) {
  std::vector<double> v;
  for (int i = 0; i < 12; ++i) v.push_back(0.1 * ((i * mul) % mod) - off);
  return f64(v, {3, 4}, rg);
}
Tensor emb_a(bool rg = false) { return emb(7, 11, 0.4, rg); }
Tensor emb_p(bool rg = false) { return emb(5, 13, 0.6, rg); }
Tensor emb_n(bool rg = false) { return emb(3, 7, 0.2, rg); }

}  // namespace

// ======================= regression losses =======================

TEST(MseLoss, Values) {
  // F.mse_loss(inp, tgt, reduction=r)
  expect_reductions(
      [](const std::string& r) { return F::mse_loss(reg_input(), reg_target(), r); },
      {{2, 3},
       {0.25, 2.25, 7.839999999999999, 0.0025000000000000005, 0.25, 2.8899999999999997},
       2.247083333333333,
       13.482499999999998});
  // Broadcast target, F.mse_loss(inp, t([1.0, 0.0, -1.0]), reduction="none") (PyTorch warns)
  expect_values(F::mse_loss(reg_input(), f64({1.0, 0.0, -1.0}, {3}), "none"), {2, 3},
                {0.25, 1.44, 16.0, 1.0, 6.25, 0.48999999999999994}, kTol);
  // float32 in, float32 out, default reduction "mean"
  Tensor l = F::mse_loss(reg_input().to(DType::Float32), reg_target().to(DType::Float32));
  EXPECT_EQ(l.dtype(), DType::Float32);
  expect_values(l, {}, {2.247083333333333}, 1e-6);
}

TEST(MseLoss, Gradcheck) {
  expect_gradcheck([](const std::vector<Tensor>& in,
                      const std::string& r) { return F::mse_loss(in[0], in[1], r); },
                   {reg_input(true), reg_target(true)});
}

TEST(L1Loss, Values) {
  // F.l1_loss(inp, tgt, reduction=r)
  expect_reductions([](const std::string& r) { return F::l1_loss(reg_input(), reg_target(), r); },
                    {{2, 3}, {0.5, 1.5, 2.8, 0.05, 0.5, 1.7}, 1.175, 7.05});
}

TEST(L1Loss, Gradcheck) {
  expect_gradcheck([](const std::vector<Tensor>& in,
                      const std::string& r) { return F::l1_loss(in[0], in[1], r); },
                   {reg_input(true), reg_target(true)});
}

TEST(SmoothL1Loss, Values) {
  // F.smooth_l1_loss(inp, tgt, reduction=r, beta=1.0)
  expect_reductions(
      [](const std::string& r) { return F::smooth_l1_loss(reg_input(), reg_target(), r); },
      {{2, 3}, {0.125, 1.0, 2.3, 0.0012500000000000002, 0.125, 1.2}, 0.791875, 4.75125});
  // F.smooth_l1_loss(inp, tgt, reduction=r, beta=0.5)
  expect_reductions(
      [](const std::string& r) { return F::smooth_l1_loss(reg_input(), reg_target(), r, 0.5); },
      {{2, 3}, {0.25, 1.25, 2.55, 0.0025000000000000005, 0.25, 1.45}, 0.9587500000000001, 5.7525});
  // beta = 0 is the L1 loss
  expect_values(F::smooth_l1_loss(reg_input(), reg_target(), "none", 0.0), {2, 3},
                {0.5, 1.5, 2.8, 0.05, 0.5, 1.7}, kTol);
}

TEST(SmoothL1Loss, Gradcheck) {
  // |d| = 0.5, 1.5, 2.8, 0.05, 0.5, 1.7: away from beta = 0.7 and from 0.
  expect_gradcheck([](const std::vector<Tensor>& in,
                      const std::string& r) { return F::smooth_l1_loss(in[0], in[1], r, 0.7); },
                   {reg_input(true), reg_target(true)});
}

TEST(HuberLoss, Values) {
  // F.huber_loss(inp, tgt, reduction=r, delta=1.0)
  expect_reductions(
      [](const std::string& r) { return F::huber_loss(reg_input(), reg_target(), r); },
      {{2, 3}, {0.125, 1.0, 2.3, 0.0012500000000000002, 0.125, 1.2}, 0.791875, 4.75125});
  // F.huber_loss(inp, tgt, reduction=r, delta=2.0)
  expect_reductions(
      [](const std::string& r) { return F::huber_loss(reg_input(), reg_target(), r, 2.0); },
      {{2, 3},
       {0.125, 1.125, 3.5999999999999996, 0.0012500000000000002, 0.125, 1.4449999999999998},
       1.0702083333333332,
       6.42125});
}

TEST(HuberLoss, Gradcheck) {
  expect_gradcheck([](const std::vector<Tensor>& in,
                      const std::string& r) { return F::huber_loss(in[0], in[1], r, 1.2); },
                   {reg_input(true), reg_target(true)});
}

// ======================= binary cross entropy =======================

TEST(BinaryCrossEntropy, Values) {
  // F.binary_cross_entropy(p, y, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::binary_cross_entropy(bin_probs(), bin_target(), {}, r);
      },
      {{2, 3},
       {0.10536051565782628, 0.10536051565782628, 0.6931471805599453, 1.2039728043259361,
        4.605170185988091, 6.907755278982137},
       2.2701277468619603,
       13.620766481171762});
  // F.binary_cross_entropy(p, y, weight=w, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::binary_cross_entropy(bin_probs(), bin_target(), bin_weight(), r);
      },
      {{2, 3},
       {0.10536051565782628, 0.21072103131565256, 0.34657359027997264, 1.2039728043259361,
        9.210340371976182, 3.4538776394910684},
       2.421807658841106,
       14.530845953046637});
}

TEST(BinaryCrossEntropy, ProbabilitiesOfZeroAndOne) {
  // F.binary_cross_entropy(p, y, reduction="none") with float32 p = [0, 1, 0, 1],
  // y = [0, 0, 1, 1]: [0, 100, 100, -0] (the logs are clamped to -100).
  Tensor p = f32({0.0, 1.0, 0.0, 1.0}, {4}, true);
  Tensor l = F::binary_cross_entropy(p, f32({0.0, 0.0, 1.0, 1.0}, {4}), {}, "none");
  expect_values(l, {4}, {0.0, 100.0, 100.0, 0.0}, 1e-5);
  l.sum().backward();
  // PyTorch's hand-written backward gives [0, 1e12, -1e12, 0] here ((x - y) / max(x (1 - x),
  // 1e-12)); the composite differentiates the clamped log instead: 0 where the log is clamped,
  // the exact derivative elsewhere. Either way the gradient is finite.
  expect_all_finite(p.grad());
  expect_values(p.grad(), {4}, {1.0, 0.0, 0.0, -1.0}, 1e-6);
}

TEST(BinaryCrossEntropy, Gradcheck) {
  // Probabilities and targets both differentiable (targets strictly inside (0, 1)).
  Tensor y = f64({0.2, 0.9, 0.3, 0.6, 0.1, 0.7}, {2, 3}, true);
  expect_gradcheck(
      [](const std::vector<Tensor>& in, const std::string& r) {
        return F::binary_cross_entropy(in[0], in[1], bin_weight(), r);
      },
      {bin_probs(true), y});
}

TEST(BinaryCrossEntropyWithLogits, Values) {
  auto bcel = [](const Tensor& w, const Tensor& pw) {
    return [w, pw](const std::string& r) {
      return F::binary_cross_entropy_with_logits(bin_logits(), bin_target(), w, pw, r);
    };
  };
  // F.binary_cross_entropy_with_logits(x, y, reduction=r)
  expect_reductions(bcel({}, {}), {{2, 3},
                                   {0.1269280110429726, 0.4740769841801067, 2.1485873515737417,
                                    0.6931471805599453, 0.40318604888545784, 0.20141327798275246},
                                   0.6745564757041628,
                                   4.047338854224977});
  // ... weight=w
  expect_reductions(bcel(bin_weight(), {}),
                    {{2, 3},
                     {0.1269280110429726, 0.9481539683602134, 1.0742936757868708,
                      0.6931471805599453, 0.8063720977709157, 0.10070663899137623},
                     0.6249335954187157,
                     3.749601572512294});
  // ... pos_weight=pw
  expect_reductions(bcel({}, bin_pos_weight()),
                    {{2, 3},
                     {0.1269280110429727, 0.23703849209005334, 2.1485873515737417,
                      1.3862943611198906, 0.40318604888545795, 0.20141327798275246},
                     0.7505745904491449,
                     4.503447542694869});
  // ... weight=w, pos_weight=pw
  expect_reductions(bcel(bin_weight(), bin_pos_weight()),
                    {{2, 3},
                     {0.1269280110429727, 0.4740769841801067, 1.0742936757868708,
                      1.3862943611198906, 0.8063720977709159, 0.10070663899137623},
                     0.6614452948153554,
                     3.9686717688921327});
}

TEST(BinaryCrossEntropyWithLogits, ExtremeLogits) {
  // float32 x = [1000, -1000, 1000, -1000, 0], y = [1, 0, 0, 1, 1]:
  // F.binary_cross_entropy_with_logits(x, y, reduction="none") = [0, 0, 1000, 1000, 0.6931472],
  // gradient of its sum [0, 0, 1, -1, -0.5].
  Tensor x = f32({1000, -1000, 1000, -1000, 0}, {5}, true);
  Tensor l = F::binary_cross_entropy_with_logits(x, f32({1, 0, 0, 1, 1}, {5}), {}, {}, "none");
  expect_values(l, {5}, {0.0, 0.0, 1000.0, 1000.0, 0.6931471824645996}, 1e-6);
  l.sum().backward();
  expect_values(x.grad(), {5}, {0.0, 0.0, 1.0, -1.0, -0.5}, 1e-7);
  // The same with a pos_weight, mean reduction: finite.
  Tensor x2 = f32({1000, -1000, 30, -30}, {4}, true);
  Tensor l2 =
      F::binary_cross_entropy_with_logits(x2, f32({0, 1, 0.5, 0.5}, {4}), {}, f32({3.0}, {1}));
  expect_all_finite(l2);
  l2.backward();
  expect_all_finite(x2.grad());
}

TEST(BinaryCrossEntropyWithLogits, Gradcheck) {
  // Includes a logit of exactly 0, where -log(sigmoid(x)) must use the smooth branch.
  Tensor y = f64({0.2, 0.9, 0.3, 0.6, 0.1, 0.7}, {2, 3}, true);
  expect_gradcheck(
      [](const std::vector<Tensor>& in, const std::string& r) {
        return F::binary_cross_entropy_with_logits(in[0], in[1], bin_weight(), bin_pos_weight(), r);
      },
      {bin_logits(true), y});
  // pos_weight is differentiable too.
  expect_gradcheck(
      [](const std::vector<Tensor>& in, const std::string& r) {
        return F::binary_cross_entropy_with_logits(in[0], bin_target(), {}, in[1], r);
      },
      {bin_logits(true), f64({2.0, 0.5, 1.0}, {3}, true)});
}

// ======================= cross entropy / nll =======================

TEST(CrossEntropy, ClassIndices) {
  // F.cross_entropy(logits, ti, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::cross_entropy(cls_logits(), cls_target(), {}, -100, r);
      },
      {{4},
       {1.964368784107945, 2.120894537305632, 3.241311296657157, 1.2729189131256584},
       2.149873382799098,
       8.599493531196392});
  // Default arguments: reduction "mean".
  expect_values(F::cross_entropy(cls_logits(), cls_target()), {}, {2.149873382799098}, kTol);
  // float32
  Tensor l32 = F::cross_entropy(cls_logits().to(DType::Float32), cls_target());
  EXPECT_EQ(l32.dtype(), DType::Float32);
  expect_values(l32, {}, {2.149873382799098}, 1e-6);
}

TEST(CrossEntropy, WeightsMeanDividesByTargetWeights) {
  // F.cross_entropy(logits, ti, weight=cw, reduction=r); mean = sum / (3.0 + 0.2 + 1.0 + 3.0)
  expect_reductions(
      [](const std::string& r) {
        return F::cross_entropy(cls_logits(), cls_target(), cls_weight(), -100, r);
      },
      {{4},
       {5.8931063523238345, 0.4241789074611264, 3.241311296657157, 3.8187567393769752},
       1.8579657355304295,
       13.377353295819093});
}

TEST(CrossEntropy, IgnoreIndex) {
  // F.cross_entropy(logits, tig, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::cross_entropy(cls_logits(), cls_target_ignored(), {}, -100, r);
      },
      {{4},
       {1.964368784107945, 0.0, 3.241311296657157, 1.2729189131256584},
       2.159532997963587,
       6.478598993890761});
  // F.cross_entropy(logits, tig, weight=cw, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::cross_entropy(cls_logits(), cls_target_ignored(), cls_weight(), -100, r);
      },
      {{4},
       {5.8931063523238345, 0.0, 3.241311296657157, 3.8187567393769752},
       1.8504534840511382,
       12.953174388357967});
  // F.cross_entropy(logits, ti, ignore_index=1, reduction=r): a valid class can be ignored.
  expect_reductions(
      [](const std::string& r) { return F::cross_entropy(cls_logits(), cls_target(), {}, 1, r); },
      {{4},
       {1.964368784107945, 2.120894537305632, 0.0, 1.2729189131256584},
       1.7860607448464119,
       5.358182234539235});
  // Every target ignored: "mean" is 0 / 0 = NaN and "sum" 0, as in PyTorch.
  Tensor all_ignored = i64({-100, -100});
  EXPECT_TRUE(std::isnan(F::cross_entropy(cls_logits().narrow(0, 0, 2), all_ignored).item()));
  EXPECT_EQ(F::cross_entropy(cls_logits().narrow(0, 0, 2), all_ignored, {}, -100, "sum").item(),
            0.0);
  // An empty batch: "mean" is NaN.
  EXPECT_TRUE(std::isnan(
      F::cross_entropy(zeros({0, 3}, DType::Float64), tensor(std::vector<int64_t>{}, {0})).item()));
}

TEST(CrossEntropy, LabelSmoothing) {
  // F.cross_entropy(logits, ti, label_smoothing=0.1, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::cross_entropy(cls_logits(), cls_target(), {}, -100, r, 0.1);
      },
      {{4},
       {1.8977021174412783, 2.0342278706389654, 3.091311296657157, 1.2562522464589918},
       2.069873382799098,
       8.279493531196392});
  // F.cross_entropy(logits, tig, weight=cw, label_smoothing=0.2, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::cross_entropy(cls_logits(), cls_target_ignored(), cls_weight(), -100, r, 0.2);
      },
      {{4},
       {5.157841674742626, 0.0, 3.16061620038973, 3.388756020510098},
       1.672459127948922,
       11.707213895642454});
}

TEST(CrossEntropy, SpatialAndUnbatched) {
  // k = t([0.1 * i - 0.5 for i in range(12)]).reshape(2, 3, 2)
  // F.cross_entropy(k, torch.tensor([[0, 2], [1, -100]]), weight=cw, reduction=r)
  std::vector<double> kv;
  for (int i = 0; i < 12; ++i) kv.push_back(0.1 * i - 0.5);
  Tensor k = f64(kv, {2, 3, 2});
  Tensor kt = tensor(std::vector<int64_t>{0, 2, 1, -100}, {2, 2});
  expect_reductions(
      [&](const std::string& r) { return F::cross_entropy(k, kt, cls_weight(), -100, r); },
      {{2, 2},
       {0.2623802865248401, 2.7357042978726014, 1.1119014326242005, 0.0},
       0.9785680992908671,
       4.109986017021642});
  // F.cross_entropy(t([0.5, -1.0, 2.0]), torch.tensor(1), reduction=r): 0-d for every reduction
  Tensor v = f64({0.5, -1.0, 2.0}, {3});
  Tensor t0 = full({}, 1, DType::Int64);
  for (const std::string r : {"none", "mean", "sum"})
    expect_values(F::cross_entropy(v, t0, {}, -100, r), {}, {3.241311296657157}, kTol);
}

TEST(CrossEntropy, ClassProbabilities) {
  // F.cross_entropy(logits, probs, reduction=r)
  expect_reductions(
      [](const std::string& r) { return F::cross_entropy(cls_logits(), cls_probs(), {}, -100, r); },
      {{4},
       {1.3143687841079448, 0.820894537305632, 0.24131129665715703, 1.1229189131256585},
       0.874873382799098,
       3.499493531196392});
  // F.cross_entropy(logits, probs, weight=cw, label_smoothing=0.1, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::cross_entropy(cls_logits(), cls_probs(), cls_weight(), -100, r, 0.1);
      },
      {{4},
       {1.0201547160879554, 1.6012020690395927, 0.3272196149302903, 1.8622534685326833},
       1.2027074671476303,
       4.810829868590521});
  // F.cross_entropy(k, torch.softmax(k * 2, 1), reduction="mean"): divided by N * d1 = 4
  std::vector<double> kv;
  for (int i = 0; i < 12; ++i) kv.push_back(0.1 * i - 0.5);
  Tensor k = f64(kv, {2, 3, 2});
  expect_values(F::cross_entropy(k, softmax(k * 2, 1)), {}, {1.0599427325521478}, kTol);
}

TEST(CrossEntropy, ExtremeLogits) {
  // float32 F.cross_entropy(t([[1000, -1000, 0], [-1000, 1000, 0]]), torch.tensor([0, 0]),
  // reduction="none") = [0, 2000]; gradient of the sum [[0, 0, 0], [-1, 1, 0]].
  Tensor x = f32({1000, -1000, 0, -1000, 1000, 0}, {2, 3}, true);
  Tensor l = F::cross_entropy(x, i64({0, 0}), {}, -100, "none");
  expect_values(l, {2}, {0.0, 2000.0}, 1e-4);
  l.sum().backward();
  expect_values(x.grad(), {2, 3}, {0, 0, 0, -1, 1, 0}, 1e-6);
  // Label smoothing and probability targets stay finite too.
  Tensor x2 = f32({1000, -1000, 0, -1000, 1000, 0}, {2, 3}, true);
  Tensor l2 = F::cross_entropy(x2, i64({0, 2}), {}, -100, "mean", 0.1) +
              F::cross_entropy(x2, f32({1, 0, 0, 0.2, 0.3, 0.5}, {2, 3}));
  expect_all_finite(l2);
  l2.backward();
  expect_all_finite(x2.grad());
}

TEST(CrossEntropy, Gradcheck) {
  expect_gradcheck(
      [](const std::vector<Tensor>& in, const std::string& r) {
        return F::cross_entropy(in[0], cls_target_ignored(), cls_weight(), -100, r, 0.15);
      },
      {cls_logits(true)});
  expect_gradcheck(
      [](const std::vector<Tensor>& in, const std::string& r) {
        return F::cross_entropy(in[0], in[1], cls_weight(), -100, r, 0.1);
      },
      {cls_logits(true), cls_probs(true)});
}

TEST(NllLoss, Values) {
  // F.nll_loss(logits, ti, reduction=r): the input is taken as log-probabilities as is.
  expect_reductions(
      [](const std::string& r) { return F::nll_loss(cls_logits(), cls_target(), {}, -100, r); },
      {{4}, {-0.5, 1.0, 0.5, 0.2}, 0.3, 1.2});
  // F.nll_loss(F.log_softmax(logits, 1), tig, weight=cw, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::nll_loss(log_softmax(cls_logits(), 1), cls_target_ignored(), cls_weight(), -100,
                           r);
      },
      {{4},
       {5.8931063523238345, 0.0, 3.241311296657157, 3.8187567393769752},
       1.8504534840511382,
       12.953174388357967});
}

TEST(NllLoss, IgnoredMinusInfinity) {
  // An ignored sample whose log-probability is -inf contributes 0, and no NaN gradient.
  const double inf = std::numeric_limits<double>::infinity();
  Tensor logp = f64({-inf, -0.1, -2.0, -0.5, -1.0, -1.5}, {2, 3}, true);
  Tensor l = F::nll_loss(logp, i64({-100, 1}));
  expect_values(l, {}, {1.0}, kTol);
  l.backward();
  expect_values(logp.grad(), {2, 3}, {0, 0, 0, 0, -1, 0}, kTol);
}

TEST(NllLoss, Gradcheck) {
  expect_gradcheck(
      [](const std::vector<Tensor>& in, const std::string& r) {
        return F::nll_loss(in[0], cls_target_ignored(), cls_weight(), -100, r);
      },
      {cls_logits(true)});
}

// ======================= KL divergence =======================

namespace {
// lp = F.log_softmax(t([0.2, 1.0, -0.5, 0.0, 0.3, 0.9]).reshape(2, 3), 1)
Tensor kl_input(bool rg = false) {
  Tensor lp = log_softmax(f64({0.2, 1.0, -0.5, 0.0, 0.3, 0.9}, {2, 3}), 1).detach();
  return rg ? lp.requires_grad_() : lp;
}
}  // namespace

TEST(KlDiv, Values) {
  // q = t([0.5, 0.5, 0.0, 0.1, 0.6, 0.3]).reshape(2, 3); F.kl_div(lp, q, reduction=r)
  Tensor q = f64({0.5, 0.5, 0.0, 0.1, 0.6, 0.3}, {2, 3});
  expect_reductions([&](const std::string& r) { return F::kl_div(kl_input(), q, r); },
                    {{2, 3},
                     {0.3105739461303431, -0.08942605386965691, 0.0, -0.07319998823412646,
                      0.455855752132074, -0.1600162781019466},
                     0.07396456300944786,
                     0.4437873780566871});
  // F.kl_div(lp, q, reduction="batchmean")
  expect_values(F::kl_div(kl_input(), q, "batchmean"), {}, {0.22189368902834355}, kTol);
  expect_values(F::kl_div(kl_input(), q), {}, {0.07396456300944786}, kTol);  // default "mean"
}

TEST(KlDiv, LogTarget) {
  // lq = torch.log(t([0.2, 0.5, 0.3, 0.1, 0.6, 0.3]).reshape(2, 3));
  // F.kl_div(lp, lq, reduction=r, log_target=True)
  Tensor lq = log(f64({0.2, 0.5, 0.3, 0.1, 0.6, 0.3}, {2, 3}));
  expect_reductions([&](const std::string& r) { return F::kl_div(kl_input(), lq, r, true); },
                    {{2, 3},
                     {-0.05902856792269376, -0.08942605386965691, 0.2430966805484086,
                      -0.07319998823412648, 0.4558557521320741, -0.1600162781019466},
                     0.05288025742534314,
                     0.31728154455205887});
  expect_values(F::kl_div(kl_input(), lq, "batchmean", true), {}, {0.15864077227602943}, kTol);
}

TEST(KlDiv, ZeroTargetHasFiniteGradient) {
  Tensor q = f64({0.5, 0.5, 0.0, 0.1, 0.6, 0.3}, {2, 3}, true);
  Tensor lp = kl_input(true);
  F::kl_div(lp, q, "batchmean").backward();
  expect_all_finite(q.grad());
  // d/dinput = -target / N
  expect_values(lp.grad(), {2, 3}, {-0.25, -0.25, 0.0, -0.05, -0.3, -0.15}, kTol);
}

TEST(KlDiv, Gradcheck) {
  // Targets away from 0 (t log t is not differentiable there from the left).
  Tensor q = f64({0.5, 0.4, 0.1, 0.1, 0.6, 0.3}, {2, 3}, true);
  expect_gradcheck([](const std::vector<Tensor>& in,
                      const std::string& r) { return F::kl_div(in[0], in[1], r); },
                   {kl_input(true), q});
  expect_gradcheck([](const std::vector<Tensor>& in,
                      const std::string& r) { return F::kl_div(in[0], in[1], r, true); },
                   {kl_input(true), log(q.detach()).requires_grad_()});
  GradcheckResult res = gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{F::kl_div(in[0], in[1], "batchmean")};
      },
      {kl_input(true), q});
  EXPECT_TRUE(res.ok) << res.message;
}

// ======================= embedding / ranking losses =======================

TEST(TripletMarginLoss, Values) {
  // F.triplet_margin_loss(a, p, n, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::triplet_margin_loss(emb_a(), emb_p(), emb_n(), 1.0, 2, 1e-6, false, r);
      },
      {{3},
       {1.3734978647007625, 1.6390633750761971, 0.8720085878663749},
       1.294856609214445,
       3.8845698276433347});
  // F.triplet_margin_loss(a, p, n, margin=0.5, p=1, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::triplet_margin_loss(emb_a(), emb_p(), emb_n(), 0.5, 1, 1e-6, false, r);
      },
      {{3},
       {1.100002, 1.5000000000000004, 0.6000000000000003},
       1.0666673333333334,
       3.2000020000000005});
  // F.triplet_margin_loss(a, p, n, swap=True, reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::triplet_margin_loss(emb_a(), emb_p(), emb_n(), 1.0, 2, 1e-6, true, r);
      },
      {{3},
       {1.60416203804647, 1.6390633750761971, 0.8720085878663749},
       1.3717446669963476,
       4.115234000989043});
  // The hinge: a margin so negative that every loss is 0.
  expect_values(F::triplet_margin_loss(emb_a(), emb_p(), emb_n(), -10.0), {}, {0.0}, kTol);
}

TEST(TripletMarginLoss, Gradcheck) {
  for (bool swap : {false, true}) {
    expect_gradcheck(
        [swap](const std::vector<Tensor>& in, const std::string& r) {
          return F::triplet_margin_loss(in[0], in[1], in[2], 1.0, 2, 1e-6, swap, r);
        },
        {emb_a(true), emb_p(true), emb_n(true)});
  }
}

TEST(CosineEmbeddingLoss, Values) {
  // F.cosine_embedding_loss(a, p, t([1.0, -1.0, -1.0]), reduction=r)
  expect_reductions(
      [](const std::string& r) {
        return F::cosine_embedding_loss(emb_a(), emb_p(), f64({1, -1, -1}, {3}), 0, r);
      },
      {{3}, {1.1070231304162688, 0.0, 0.5489664835683805}, 0.5519965379948831, 1.6559896139846493});
  // F.cosine_embedding_loss(a, n, t([1.0, -1.0, 0.0]), margin=-0.5, reduction=r): a target
  // that is neither 1 nor -1 gives 0.
  expect_reductions(
      [](const std::string& r) {
        return F::cosine_embedding_loss(emb_a(), emb_n(), f64({1, -1, 0}, {3}), -0.5, r);
      },
      {{3}, {0.8060041015848256, 1.146761666760807, 0.0}, 0.6509219227818775, 1.9527657683456325});
  // Unbatched: F.cosine_embedding_loss(t([1., 2., 3.]), t([1., 0., -1.]), t(-1.0),
  // margin=-0.5, reduction="none")
  expect_values(F::cosine_embedding_loss(f64({1, 2, 3}, {3}), f64({1, 0, -1}, {3}),
                                         full({}, -1.0, DType::Float64), -0.5, "none"),
                {}, {0.12203552699088077}, kTol);
  // int64 targets work the same.
  expect_values(F::cosine_embedding_loss(emb_a(), emb_p(), i64({1, -1, -1}), 0, "sum"), {},
                {1.6559896139846493}, kTol);
}

TEST(CosineEmbeddingLoss, Gradcheck) {
  expect_gradcheck(
      [](const std::vector<Tensor>& in, const std::string& r) {
        return F::cosine_embedding_loss(in[0], in[1], f64({1, -1, -1}, {3}), 0.1, r);
      },
      {emb_a(true), emb_p(true)});
}

TEST(MarginRankingLoss, Values) {
  // i1 = t([0.5, -1.0, 2.0, 0.3]); i2 = t([1.0, 0.2, 1.5, 0.3]); y = t([1.0, -1.0, -1.0, 1.0])
  Tensor i1 = f64({0.5, -1.0, 2.0, 0.3}, {4}), i2 = f64({1.0, 0.2, 1.5, 0.3}, {4});
  Tensor y = f64({1, -1, -1, 1}, {4});
  // F.margin_ranking_loss(i1, i2, y, reduction=r)
  expect_reductions([&](const std::string& r) { return F::margin_ranking_loss(i1, i2, y, 0, r); },
                    {{4}, {0.5, 0.0, 0.5, 0.0}, 0.25, 1.0});
  // F.margin_ranking_loss(i1, i2, y, margin=0.5, reduction=r)
  expect_reductions([&](const std::string& r) { return F::margin_ranking_loss(i1, i2, y, 0.5, r); },
                    {{4}, {1.0, 0.0, 1.0, 0.5}, 0.625, 2.5});
}

TEST(MarginRankingLoss, Gradcheck) {
  // -y (i1 - i2) + 0.5 = 1.0, -0.7, 1.0, 0.4: away from the hinge.
  expect_gradcheck(
      [](const std::vector<Tensor>& in, const std::string& r) {
        return F::margin_ranking_loss(in[0], in[1], f64({1, -1, -1, 1}, {4}), 0.5, r);
      },
      {f64({0.5, -1.0, 2.0, 0.3}, {4}, true), f64({1.0, 0.2, 1.5, 0.2}, {4}, true)});
}

// ======================= distances =======================

TEST(CosineSimilarity, Values) {
  // F.cosine_similarity(a, p)
  expect_values(F::cosine_similarity(emb_a(), emb_p()), {3},
                {-0.10702313041643269, -0.41231056256176596, 0.5489664835695153}, kTol);
  // F.cosine_similarity(a, p, dim=0)
  expect_values(
      F::cosine_similarity(emb_a(), emb_p(), 0), {4},
      {0.9669165928049852, -0.4579218831544974, -0.40929374234328014, -0.21201428134419553}, kTol);
  // F.cosine_similarity(a[:1], n): broadcast
  expect_values(F::cosine_similarity(emb_a().narrow(0, 0, 1), emb_n()), {3},
                {0.19399589841579268, -0.8680922931294119, 0.6475761258027333}, kTol);
  // F.cosine_similarity(t([[1e-5, 1e-5]]), t([[6.0, 8.0]]), eps=1e-4): each norm is clamped
  // on its own (sum(x1 x2) / (max(|x1|, eps) max(|x2|, eps))).
  expect_values(F::cosine_similarity(f64({1e-5, 1e-5}, {1, 2}), f64({6, 8}, {1, 2}), 1, 1e-4), {1},
                {0.14}, kTol);
  // A zero vector: 0, with a finite gradient.
  Tensor z = f64({0, 0, 0}, {1, 3}, true);
  Tensor c = F::cosine_similarity(z, f64({1, 2, 3}, {1, 3}));
  expect_values(c, {1}, {0.0}, kTol);
  c.sum().backward();
  expect_all_finite(z.grad());
}

TEST(CosineSimilarity, Gradcheck) {
  GradcheckOptions opt;
  opt.check_second_order = true;
  for (int64_t dim : {0, 1, -1}) {
    GradcheckResult res = gradcheck(
        [dim](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{F::cosine_similarity(in[0], in[1], dim)};
        },
        {emb_a(true), emb_n(true)}, opt);
    EXPECT_TRUE(res.ok) << "dim " << dim << ": " << res.message;
  }
}

TEST(PairwiseDistance, Values) {
  // F.pairwise_distance(a, p)
  expect_values(F::pairwise_distance(emb_a(), emb_p()), {3},
                {1.2041603713808222, 1.0862778650069238, 0.6782329983154757}, kTol);
  // F.pairwise_distance(a, p, p=1, keepdim=True)
  expect_values(F::pairwise_distance(emb_a(), emb_p(), 1, 1e-6, true), {3, 1},
                {2.100002, 1.8000000000000003, 1.2000000000000002}, kTol);
  // F.pairwise_distance(a, n[:1], p=3)
  expect_values(F::pairwise_distance(emb_a(), emb_n().narrow(0, 0, 1), 3), {3},
                {0.7093973130597221, 0.45306592806278334, 0.5383204330250396}, kTol);
  // F.pairwise_distance(t([1.0, 2.0]), t([4.0, -2.0])): eps is added to the difference
  expect_values(F::pairwise_distance(f64({1, 2}, {2}), f64({4, -2}, {2})), {}, {5.000000200000196},
                kTol);
}

TEST(PairwiseDistance, Gradcheck) {
  GradcheckOptions opt;
  opt.check_second_order = true;
  for (double p : {1.0, 2.0, 3.0}) {
    GradcheckResult res = gradcheck(
        [p](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{F::pairwise_distance(in[0], in[1], p)};
        },
        // a and p differ by at least 0.1 everywhere (|.| has a kink at 0 for p = 1).
        {emb_a(true), emb_p(true)}, opt);
    EXPECT_TRUE(res.ok) << "p " << p << ": " << res.message;
  }
}

// ======================= errors =======================

TEST(LossErrors, Reduction) {
  Tensor x = reg_input(), y = reg_target();
  EXPECT_THROW_MSG(F::mse_loss(x, y, "avg"), ValueError,
                   "mse_loss: reduction must be 'none', 'mean', 'sum'", "got 'avg'");
  EXPECT_THROW_MSG(F::l1_loss(x, y, "batchmean"), ValueError, "l1_loss: reduction", "batchmean");
  EXPECT_THROW_MSG(F::cross_entropy(cls_logits(), cls_target(), {}, -100, "Mean"), ValueError,
                   "cross_entropy: reduction", "got 'Mean'");
  EXPECT_THROW_MSG(F::kl_div(x, y, "max"), ValueError, "kl_div: reduction", "'batchmean'",
                   "got 'max'");
  EXPECT_THROW_MSG(F::triplet_margin_loss(emb_a(), emb_p(), emb_n(), 1, 2, 1e-6, false, ""),
                   ValueError, "triplet_margin_loss: reduction", "got ''");
}

TEST(LossErrors, Regression) {
  EXPECT_THROW_MSG(F::mse_loss(zeros({2, 3}), zeros({4, 3})), ValueError,
                   "mse_loss: input [2, 3] and target [4, 3] cannot be broadcast together");
  EXPECT_THROW_MSG(F::l1_loss(i64({1, 2, 3}), zeros({3})), TypeError,
                   "l1_loss: expected a floating point input, got [3] int64");
  EXPECT_THROW_MSG(F::mse_loss(Tensor(), zeros({3})), ValueError,
                   "mse_loss: input is an undefined tensor");
  EXPECT_THROW_MSG(F::smooth_l1_loss(zeros({3}), zeros({3}), "mean", -1.0), ValueError,
                   "smooth_l1_loss: beta must be non-negative, got -1");
  EXPECT_THROW_MSG(F::huber_loss(zeros({3}), zeros({3}), "mean", 0.0), ValueError,
                   "huber_loss: delta must be positive, got 0");
}

TEST(LossErrors, BinaryCrossEntropy) {
  EXPECT_THROW_MSG(F::binary_cross_entropy(f32({0.5, 1.5}, {2}), f32({0, 1}, {2})), ValueError,
                   "binary_cross_entropy: all elements of input should be between 0 and 1",
                   "[0.5, 1.5]");
  EXPECT_THROW_MSG(F::binary_cross_entropy(f32({-0.1, 0.5}, {2}), f32({0, 1}, {2})), ValueError,
                   "between 0 and 1");
  EXPECT_THROW_MSG(F::binary_cross_entropy(full({3, 1}, 0.5), zeros({3})), ValueError,
                   "binary_cross_entropy: expected target of shape [3, 1] (the input's), got [3]");
  EXPECT_THROW_MSG(F::binary_cross_entropy(full({3}, 0.5), i64({0, 1, 1})), TypeError,
                   "binary_cross_entropy: expected a floating point target, got [3] int64");
  EXPECT_THROW_MSG(F::binary_cross_entropy(full({2, 3}, 0.5), zeros({2, 3}), ones({2})), ValueError,
                   "binary_cross_entropy: weight [2] is not broadcastable to input [2, 3]");
  EXPECT_THROW_MSG(
      F::binary_cross_entropy_with_logits(zeros({2, 3}), zeros({2, 3}), {}, ones({4})), ValueError,
      "binary_cross_entropy_with_logits: pos_weight [4] is not broadcastable to input [2, 3]");
  EXPECT_THROW_MSG(F::binary_cross_entropy_with_logits(zeros({4}), zeros({4, 1})), ValueError,
                   "binary_cross_entropy_with_logits: expected target of shape [4]", "got [4, 1]");
}

TEST(LossErrors, CrossEntropyTargets) {
  Tensor x = zeros({4, 3});
  EXPECT_THROW_MSG(F::cross_entropy(x, i64({0, 1, 2, 0, 1})), ValueError,
                   "cross_entropy: expected target of shape [4] for input [4, 3], got [5]");
  EXPECT_THROW_MSG(
      F::cross_entropy(zeros({2, 3, 5}), zeros({2, 3}, DType::Int64)), ValueError,
      "cross_entropy: expected target of shape [2, 5] for input [2, 3, 5], got [2, 3]");
  EXPECT_THROW_MSG(F::cross_entropy(x, i64({0, 1, 2, 0}).to(DType::Int32)), TypeError,
                   "cross_entropy: expected an int64 target of class indices, got [4] int32");
  // Out of range, checked before anything is computed, naming the value.
  EXPECT_THROW_MSG(F::cross_entropy(x, i64({0, 1, 3, 0})), ValueError,
                   "cross_entropy: target 3 is out of bounds for 3 classes (input [4, 3]");
  EXPECT_THROW_MSG(F::cross_entropy(x, i64({0, -1, 2, 0})), ValueError,
                   "cross_entropy: target -1 is out of bounds");
  // -100 is fine by default but not when another ignore_index is given.
  EXPECT_THROW_MSG(F::cross_entropy(x, i64({0, -100, 2, 0}), {}, 5), ValueError,
                   "target -100 is out of bounds", "ignore_index 5");
  EXPECT_THROW_MSG(F::nll_loss(x, i64({0, 1, 7, 0})), ValueError,
                   "nll_loss: target 7 is out of bounds for 3 classes");
  // A floating target shaped like class indices.
  EXPECT_THROW_MSG(F::cross_entropy(x, zeros({4})), ValueError,
                   "cross_entropy: expected int64 class indices of shape [4] or floating point "
                   "class probabilities of shape [4, 3]",
                   "got [4] float32");
  EXPECT_THROW_MSG(F::cross_entropy(x, zeros({4, 3}), {}, 0), ValueError,
                   "cross_entropy: ignore_index is not supported for class-probability targets");
  EXPECT_THROW_MSG(F::cross_entropy(zeros({}), full({}, 0, DType::Int64)), ValueError,
                   "cross_entropy: expected input of shape [N, C], [N, C, d1, ...] or [C], got []");
  EXPECT_THROW_MSG(F::cross_entropy(zeros({3}), i64({1})), ValueError,
                   "cross_entropy: expected target of shape [] for input [3], got [1]");
  EXPECT_THROW_MSG(F::nll_loss(zeros({4, 3}, DType::Int64), i64({0, 1, 2, 0})), TypeError,
                   "nll_loss: expected a floating point input, got [4, 3] int64");
}

TEST(LossErrors, CrossEntropyOptions) {
  Tensor x = zeros({4, 3});
  EXPECT_THROW_MSG(F::cross_entropy(x, cls_target(), ones({2})), ValueError,
                   "cross_entropy: expected weight of shape [3] (one per class) for input [4, 3], "
                   "got [2]");
  EXPECT_THROW_MSG(F::nll_loss(x, cls_target(), ones({3, 1})), ValueError,
                   "nll_loss: expected weight of shape [3]", "got [3, 1]");
  EXPECT_THROW_MSG(F::cross_entropy(x, cls_target(), {}, -100, "mean", 1.5), ValueError,
                   "cross_entropy: label_smoothing must be between 0.0 and 1.0, got 1.5");
  EXPECT_THROW_MSG(F::cross_entropy(x, cls_target(), {}, -100, "mean", -0.1), ValueError,
                   "label_smoothing must be between 0.0 and 1.0");
}

TEST(LossErrors, KlDivAndEmbeddings) {
  EXPECT_THROW_MSG(F::kl_div(zeros({2, 3}), zeros({3, 3})), ValueError,
                   "kl_div: input [2, 3] and target [3, 3] cannot be broadcast together");
  EXPECT_THROW_MSG(F::triplet_margin_loss(zeros({3, 4}), zeros({3, 4}), zeros({4})), ValueError,
                   "triplet_margin_loss: expected anchor, positive and negative with the same "
                   "number of dimensions, got [3, 4], [3, 4] and [4]");
  EXPECT_THROW_MSG(F::triplet_margin_loss(zeros({3, 4}), zeros({3, 5}), zeros({3, 4})), ValueError,
                   "triplet_margin_loss: anchor [3, 4] and positive [3, 5] cannot be broadcast");
  EXPECT_THROW_MSG(F::cosine_embedding_loss(zeros({3, 4}), zeros({3, 4}), zeros({3, 1})),
                   ValueError, "cosine_embedding_loss: expected a 0-D or 1-D target, got [3, 1]");
  EXPECT_THROW_MSG(F::cosine_embedding_loss(zeros({4}), zeros({4}), zeros({1})), ValueError,
                   "cosine_embedding_loss: a 1-D target expects 2-D inputs, got input1 [4] and "
                   "input2 [4]");
  EXPECT_THROW_MSG(F::cosine_embedding_loss(zeros({3, 4}), zeros({3, 4}), zeros({2})), ValueError,
                   "cosine_embedding_loss: expected target of shape [3] for inputs [3, 4] and "
                   "[3, 4], got [2]");
  EXPECT_THROW_MSG(F::margin_ranking_loss(zeros({4}), zeros({4}), zeros({4, 1})), ValueError,
                   "margin_ranking_loss: expected input1, input2 and target with the same number "
                   "of dimensions, got [4], [4] and [4, 1]");
}

TEST(LossErrors, Distances) {
  EXPECT_THROW_MSG(F::cosine_similarity(zeros({3, 4}), zeros({3, 4}), 2), Error,
                   "cosine_similarity");
  EXPECT_THROW_MSG(F::cosine_similarity(i64({1, 2}), i64({1, 2}), 0), TypeError,
                   "cosine_similarity: expected floating point inputs, got x1 [2] int64");
  EXPECT_THROW_MSG(F::pairwise_distance(zeros({3, 4}), zeros({3, 5})), ValueError,
                   "pairwise_distance: x1 [3, 4] and x2 [3, 5] cannot be broadcast together");
}
