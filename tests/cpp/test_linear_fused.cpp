// The fused linear (Backend::linear: cpu::linear, cuBLASLt epilogues on CUDA) and the CUDA
// matrix products.
//   CPU: the fused path equals the composite (matmul + add, then relu / gelu(tanh)); fp64
//        gradcheck of linear and linear_act to second order; errors; the row-major to
//        cuBLASLt operand mapping (cuda/blas/layout.h, plain C++).
//   GPU (skipped without one): bmm against the CPU for every dtype and operand layout, K == 0,
//        odd sizes, a 2048^3 bfloat16 product against float64, each epilogue against the CPU,
//        the TF32 switch.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "../../cuda/blas/layout.h"
#include "kiln/autograd.h"
#include "kiln/cuda.h"
#include "kiln/gradcheck.h"
#include "kiln/ops.h"
#include "kiln/random.h"
#include "ops/linear_act.h"
#include "test_util.h"

namespace kiln {
namespace {

using namespace kiln::testing;

// The largest |a - b| over all elements (compared in float64 on the CPU).
double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}
double max_abs(const Tensor& a) {
  double m = 0;
  for (double v : a.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

Tensor composite(const Tensor& x, const Tensor& w, const Tensor& b, Activation act) {
  Tensor z = matmul(x, transpose(w, 0, 1));
  if (b.defined()) z = add(z, b);
  if (act == Activation::Relu) return relu(z);
  if (act == Activation::Gelu) return gelu(z, "tanh");
  return z;
}

const char* act_name(Activation act) {
  return act == Activation::Relu ? "relu" : act == Activation::Gelu ? "gelu" : "none";
}

// ---------------- CPU: fused == composite ----------------

TEST(LinearFused, EqualsCompositeFloat32AndFloat64) {
  manual_seed(11);
  for (DType dt : {DType::Float32, DType::Float64}) {
    const double tol = dt == DType::Float32 ? 1e-6 : 1e-14;  // same gemm: ~bit-identical
    for (const Shape& xs : std::vector<Shape>{{7}, {5, 7}, {2, 3, 7}, {0, 7}}) {
      for (bool with_bias : {false, true}) {
        for (Activation act : {Activation::None, Activation::Relu, Activation::Gelu}) {
          Tensor x = randn(xs, dt), w = randn({4, 7}, dt);
          Tensor b = with_bias ? randn({4}, dt) : Tensor();
          Tensor fused = act == Activation::None ? linear(x, w, b) : linear_act(x, w, b, act);
          Tensor ref = composite(x, w, b, act);
          ASSERT_EQ(fused.shape(), ref.shape());
          ASSERT_EQ(fused.dtype(), dt);
          EXPECT_LE(max_abs_diff(fused, ref), tol * std::max(1.0, max_abs(ref)))
              << dtype_name(dt) << " x " << shape_str(xs) << " bias " << with_bias << " "
              << act_name(act);
        }
      }
    }
  }
}

TEST(LinearFused, HandValuesAndStridedOperands) {
  // x [2, 3] = [[1, 2, 3], [4, 5, 6]], w [2, 3] = [[1, 0, -1], [0, 1, 1]], b = [0.5, -20]
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = tensor({1, 0, -1, 0, 1, 1}, {2, 3});
  Tensor b = tensor({0.5, -20}, {2});
  expect_values(linear(x, w, b), {2, 2}, {-1.5, -15, -1.5, -9});
  expect_values(linear_act(x, w, b, Activation::Relu), {2, 2}, {0, 0, 0, 0});
  expect_values(linear_act(x, w, Tensor(), Activation::Relu), {2, 2}, {0, 5, 0, 11});
  // A transposed weight view and a column-sliced input take the strided path.
  Tensor wt = transpose(tensor({1, 0, 0, 1, -1, 1}, {3, 2}), 0, 1);  // equals w
  Tensor xwide = tensor({1, 9, 2, 9, 3, 9, 4, 9, 5, 9, 6, 9}, {2, 6});
  Tensor xs = xwide.slice(1, 0, 6, 2);  // equals x, column stride 2
  expect_values(linear(xs, wt, b), {2, 2}, {-1.5, -15, -1.5, -9});
}

TEST(LinearFused, GeluIsTheTanhApproximation) {
  Tensor x = tensor({-3, -1, -0.25, 0, 0.5, 2}, {6, 1}, DType::Float64);
  Tensor w = ones({1, 1}, DType::Float64);
  Tensor y = linear_act(x, w, Tensor(), Activation::Gelu);
  std::vector<double> expected;
  for (double v : {-3.0, -1.0, -0.25, 0.0, 0.5, 2.0})
    expected.push_back(0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
  expect_values(y, {6, 1}, expected, 1e-15);
}

// float16 pre-activations of 256 and more: z * z overflows float16, and a derivative computed in
// float16 was NaN (0 * inf) where it is 1 (or 0 for large negative z).
TEST(LinearFused, GeluBackwardOfLargeFloat16PreActivationsIsFinite) {
  for (DType dt : {DType::Float16, DType::BFloat16}) {
    Tensor x = tensor({-300, -256, 255, 256, 300}, {5, 1}, dt).requires_grad_(true);
    Tensor w = ones({1, 1}, dt).requires_grad_(true);
    sum(linear_act(x, w, Tensor(), Activation::Gelu)).backward();
    expect_values(x.grad().to(DType::Float64), {5, 1}, {0, 0, 1, 1, 1}, 1e-3);
    Tensor z = tensor({-300, 300}, {2}, dt).requires_grad_(true);
    sum(gelu(z, "tanh")).backward();
    expect_values(z.grad().to(DType::Float64), {2}, {0, 1}, 1e-3);
  }
}

// linear_act's ReLU is max(z, 0) on every device (cuBLASLt's epilogue): NaN becomes 0.
TEST(LinearFused, ReluEpilogueMapsNanToZero) {
  Tensor x = tensor({std::nan(""), 1.0}, {2, 1});
  Tensor y = linear_act(x, ones({1, 1}), Tensor(), Activation::Relu);
  expect_values(y, {2, 1}, {0, 1});
}

TEST(LinearFused, EmptyInnerDimensionGivesActivatedBias) {
  Tensor b = tensor({1.5, -2}, {2});
  expect_values(linear(zeros({3, 0}), zeros({2, 0}), b), {3, 2}, {1.5, -2, 1.5, -2, 1.5, -2});
  expect_values(linear_act(zeros({3, 0}), zeros({2, 0}), b, Activation::Relu), {3, 2},
                {1.5, 0, 1.5, 0, 1.5, 0});
  expect_values(linear(zeros({3, 0}), zeros({2, 0})), {3, 2}, {0, 0, 0, 0, 0, 0});
}

TEST(LinearFused, ReducedPrecisionRoundsOnce) {
  // bfloat16: product, bias and activation in float32, one rounding at the end. The float64
  // reference of the same (exactly representable) inputs may differ by half a bf16 ulp.
  manual_seed(5);
  Tensor x = randn({16, 64}, DType::BFloat16), w = randn({32, 64}, DType::BFloat16);
  Tensor b = randn({32}, DType::BFloat16);
  for (Activation act : {Activation::None, Activation::Relu, Activation::Gelu}) {
    Tensor y = linear_act(x, w, b, act);
    ASSERT_EQ(y.dtype(), DType::BFloat16);
    Tensor ref = composite(x.to(DType::Float64), w.to(DType::Float64), b.to(DType::Float64), act);
    const std::vector<double> vy = y.to_vector(), vr = ref.to_vector();
    for (size_t i = 0; i < vy.size(); ++i)
      ASSERT_LE(std::abs(vy[i] - vr[i]), std::abs(vr[i]) * 0x1p-8 + 1e-5)
          << act_name(act) << " element " << i;
  }
}

TEST(LinearFused, NonFusableCasesUseTheComposite) {
  // Integer linear (no cuBLASLt, no fused kernel) and a broadcast 2-D bias.
  Tensor xi = tensor(std::vector<int64_t>{1, 2, 3, 4}, {2, 2});
  Tensor wi = tensor(std::vector<int64_t>{1, 1, 0, 2}, {2, 2});
  Tensor y = linear(xi, wi, tensor(std::vector<int64_t>{10, 20}, {2}));
  EXPECT_EQ(y.dtype(), DType::Int64);
  expect_values(y, {2, 2}, {13, 24, 17, 28});
  Tensor x = tensor({1, 2, 3, 4}, {2, 2});
  Tensor w = tensor({1, 1, 0, 2}, {2, 2});
  expect_values(linear(x, w, tensor({1, 2}, {2, 1})), {2, 2}, {4, 5, 9, 10});
  expect_values(linear_act(x, w, tensor({-5, -10}, {2, 1}), Activation::Relu), {2, 2},
                {0, 0, 0, 0});
  expect_values(linear_act(xi, wi, Tensor(), Activation::Relu), {2, 2}, {3, 4, 7, 8});
}

TEST(LinearFused, GradFnNames) {
  Tensor x = randn({2, 3}).requires_grad_(true), w = randn({4, 3}).requires_grad_(true);
  Tensor b = randn({4}).requires_grad_(true);
  EXPECT_EQ(linear(x, w, b).grad_fn()->name(), "AddmmBackward0");
  EXPECT_EQ(linear(x, w).grad_fn()->name(), "MmBackward0");
  EXPECT_EQ(linear_act(x, w, b, Activation::Relu).grad_fn()->name(), "LinearReluBackward0");
  EXPECT_EQ(linear_act(x, w, b, Activation::Gelu).grad_fn()->name(), "LinearGeluBackward0");
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(linear(x, w, b).requires_grad());
  }
}

TEST(LinearFused, BackwardMatchesComposite) {
  manual_seed(3);
  for (Activation act : {Activation::None, Activation::Relu, Activation::Gelu}) {
    Tensor x = randn({2, 3, 5}).requires_grad_(true), w = randn({4, 5}).requires_grad_(true);
    Tensor b = randn({4}).requires_grad_(true);
    Tensor g = randn({2, 3, 4});
    auto grads = [&](bool fused) {
      Tensor y = fused ? linear_act(x, w, b, act) : composite(x, w, b, act);
      return autograd::grad({y}, {x, w, b}, {g});
    };
    std::vector<Tensor> gf = grads(true), gc = grads(false);
    for (size_t i = 0; i < 3; ++i)
      expect_close(gf[i], gc[i], 1e-5, 1e-5,
                   std::string(act_name(act)) + " input " + std::to_string(i));
  }
}

// ---------------- CPU: gradcheck (float64, first and second order) ----------------

void expect_gradcheck(const autograd::Function& f, const std::vector<Tensor>& inputs,
                      const std::string& what) {
  GradcheckOptions opt;
  opt.check_second_order = true;
  GradcheckResult r = gradcheck(f, inputs, opt);
  EXPECT_TRUE(r.ok) << what << ": " << r.message;
}

TEST(LinearFused, Gradcheck) {
  manual_seed(21);
  auto leaf = [](const Shape& s) { return randn(s, DType::Float64).requires_grad_(true); };
  for (const Shape& xs : std::vector<Shape>{{5}, {3, 5}, {2, 2, 5}}) {
    Tensor x = leaf(xs), w = leaf({4, 5}), b = leaf({4});
    expect_gradcheck(
        [](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{linear(in[0], in[1], in[2])};
        },
        {x, w, b}, "linear " + shape_str(xs));
    expect_gradcheck(
        [](const std::vector<Tensor>& in) { return std::vector<Tensor>{linear(in[0], in[1])}; },
        {x, w}, "linear without bias " + shape_str(xs));
    for (Activation act : {Activation::Relu, Activation::Gelu}) {
      expect_gradcheck(
          [act](const std::vector<Tensor>& in) {
            return std::vector<Tensor>{linear_act(in[0], in[1], in[2], act)};
          },
          {x, w, b}, std::string("linear_act ") + act_name(act) + " " + shape_str(xs));
    }
  }
}

// ---------------- CPU: errors ----------------

TEST(LinearFused, Errors) {
  EXPECT_THROW_MSG(linear_act(ones({2, 3}), ones({4, 5}), Tensor(), Activation::Relu), ValueError,
                   "linear", "[2, 3]", "[4, 5]");
  EXPECT_THROW_MSG(
      linear_act(ones({2, 3}), ones({4, 3}, DType::Float64), Tensor(), Activation::Gelu), TypeError,
      "linear", "float32", "float64");
  EXPECT_THROW_MSG(linear_act(ones({2, 3}), ones({4, 3}), ones({5}), Activation::Relu), ValueError,
                   "linear", "bias", "[5]", "[2, 4]");
  EXPECT_THROW_MSG(linear(ones({2, 3}), ones({3})), ValueError, "linear", "2-D weight");
}

// ---------------- the cuBLASLt operand mapping (plain C++) ----------------

TEST(LinearFused, LtOperandMapping) {
  using cuda::blas::lt_operand;
  using cuda::blas::LtOperand;
  LtOperand o;
  // Row-major 3 x 5 (strides 5, 1): its memory is the column-major 5 x 3 transpose.
  ASSERT_TRUE(lt_operand(3, 5, 5, 1, o));
  EXPECT_FALSE(o.transpose);
  EXPECT_EQ(o.rows, 5);
  EXPECT_EQ(o.cols, 3);
  EXPECT_EQ(o.ld, 5);
  // A row-major view with padded rows (strides 8, 1).
  ASSERT_TRUE(lt_operand(3, 5, 8, 1, o));
  EXPECT_EQ(o.ld, 8);
  // Column-major 3 x 5 (the transpose of a contiguous 5 x 3; strides 1, 3): op T.
  ASSERT_TRUE(lt_operand(3, 5, 1, 3, o));
  EXPECT_TRUE(o.transpose);
  EXPECT_EQ(o.rows, 3);
  EXPECT_EQ(o.cols, 5);
  EXPECT_EQ(o.ld, 3);
  // Size-1 dims ignore their stride.
  ASSERT_TRUE(lt_operand(1, 5, 999, 1, o));
  EXPECT_FALSE(o.transpose);
  EXPECT_EQ(o.ld, 5);
  ASSERT_TRUE(lt_operand(4, 1, 1, 999, o));
  EXPECT_FALSE(o.transpose);  // a unit-stride column: row-major with ld 1 (1 x 4 stored)
  EXPECT_EQ(o.rows, 1);
  EXPECT_EQ(o.ld, 1);
  ASSERT_TRUE(lt_operand(1, 5, 7, 3, o));  // a row with stride 3: column-major 1 x 5, ld 3
  EXPECT_TRUE(o.transpose);
  EXPECT_EQ(o.ld, 3);
  // Neither stride unit, or overlapping rows: no mapping (the caller copies).
  EXPECT_FALSE(lt_operand(3, 5, 10, 2, o));
  EXPECT_FALSE(lt_operand(3, 5, 2, 1, o));
  // Every mapping satisfies cuBLASLt's ld >= rows.
  for (int64_t r : {1, 2, 7})
    for (int64_t c : {1, 3, 8})
      for (auto [sr, sc] : std::vector<std::pair<int64_t, int64_t>>{{c, 1}, {1, r}, {c + 3, 1}})
        if (lt_operand(r, c, sr, sc, o)) {
          EXPECT_GE(o.ld, o.rows) << r << "x" << c;
        }
}

TEST(LinearFused, Alignment) {
  using cuda::blas::alignment_of;
  EXPECT_EQ(alignment_of(0x1000), 256u);
  EXPECT_EQ(alignment_of(0x1004), 4u);
  EXPECT_EQ(alignment_of(0x1010), 16u);
  EXPECT_EQ(alignment_of(0x1000, 6), 2u);  // a batch stride of 3 float16s
  EXPECT_EQ(alignment_of(0x1000, 0), 256u);
}

// ---------------- GPU ----------------

#define SKIP_WITHOUT_CUDA() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: CUDA matrix product tests skipped"

const Device kCuda = Device::cuda(0);

// Restores the TF32 switch whatever a test does with it.
struct Tf32Guard {
  bool saved = cuda::allow_tf32();
  ~Tf32Guard() { cuda::set_allow_tf32(saved); }
};

// Random operand of `dt`: normal floats, small integers (so that products are exact and the
// int64 wrap-around is not exercised by accident).
Tensor random_of(const Shape& s, DType dt) {
  if (is_floating(dt)) return randn(s, dt);
  if (dt == DType::UInt8) return randint(0, 4, s, dt);
  return (randint(0, 7, s, DType::Int64) - 3).to(dt);
}

// CUDA against the CPU for a sum of k products of normal numbers (magnitude ~sqrt(k)): both
// accumulate in float32/float64 in a different order, then round once to the dtype, so the
// results differ by the accumulation error (atol) and one or two roundings (rtol).
struct Tolerance {
  double atol, rtol;
};
Tolerance tolerance(DType dt, int64_t k) {
  const double sk = std::sqrt(double(k));
  switch (dt) {
    case DType::Float64:
      return {1e-13 * sk, 1e-12};
    case DType::Float32:
      return {2e-6 * sk, 1e-5};
    case DType::BFloat16:
      return {2e-6 * sk, 0x1p-7};
    case DType::Float16:
      return {2e-6 * sk, 0x1p-9};
    default:
      return {0, 0};  // integers: exact
  }
}

void expect_bmm_matches_cpu(const Tensor& a, const Tensor& b, const std::string& what) {
  Tensor out = bmm(a.to(kCuda), b.to(kCuda));
  Tensor ref = bmm(a, b);
  ASSERT_EQ(out.device(), kCuda);
  ASSERT_EQ(out.dtype(), a.dtype());
  const Tolerance tol = tolerance(a.dtype(), a.size(2));
  expect_close(out.cpu(), ref, tol.atol, tol.rtol,
               what + " " + dtype_name(a.dtype()) + " " + shape_str(a.shape()) + " @ " +
                   shape_str(b.shape()));
}

TEST(CudaMatmul, BmmEveryDtypeAgainstCpu) {
  SKIP_WITHOUT_CUDA();
  Tf32Guard guard;
  cuda::set_allow_tf32(false);
  manual_seed(7);
  for (DType dt : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int64,
                   DType::Int32, DType::UInt8}) {
    for (auto [m, k, n] : std::vector<std::array<int64_t, 3>>{
             {1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {64, 64, 64}, {65, 127, 31}}) {
      Tensor a = random_of({3, m, k}, dt), b = random_of({3, k, n}, dt);
      expect_bmm_matches_cpu(
          a, b,
          "contiguous " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n));
    }
  }
}

// bmm(view_a(base_a), view_b(base_b)) on both devices: the views are taken on each device, so
// the CUDA kernels see the strides themselves (a copy to the GPU would make them contiguous).
using View = std::function<Tensor(const Tensor&)>;
void expect_bmm_views_match(const Tensor& base_a, const View& view_a, const Tensor& base_b,
                            const View& view_b, const std::string& what) {
  Tensor ga = view_a(base_a.to(kCuda)), gb = view_b(base_b.to(kCuda));
  Tensor out = bmm(ga, gb);
  Tensor ref = bmm(view_a(base_a), view_b(base_b));
  ASSERT_EQ(ga.strides(), view_a(base_a).strides()) << what;
  ASSERT_EQ(gb.strides(), view_b(base_b).strides()) << what;
  const Tolerance tol = tolerance(base_a.dtype(), ga.size(2));
  expect_close(out.cpu(), ref, tol.atol, tol.rtol, what + " " + dtype_name(base_a.dtype()));
}

TEST(CudaMatmul, BmmOperandLayouts) {
  SKIP_WITHOUT_CUDA();
  Tf32Guard guard;
  cuda::set_allow_tf32(false);
  manual_seed(8);
  const int64_t B = 4, m = 19, k = 23, n = 13;
  const View same = [](const Tensor& t) { return t; };
  const View transposed = [](const Tensor& t) { return transpose(t, 1, 2); };
  for (DType dt : {DType::Float32, DType::BFloat16, DType::Float64, DType::Int64}) {
    Tensor a = random_of({B, m, k}, dt), b = random_of({B, k, n}, dt);
    Tensor a_cm = random_of({B, k, m}, dt), b_cm = random_of({B, n, k}, dt);  // to transpose
    expect_bmm_views_match(a_cm, transposed, b, same, "transposed a");
    expect_bmm_views_match(a, same, b_cm, transposed, "transposed b");
    expect_bmm_views_match(a_cm, transposed, b_cm, transposed, "both transposed");
    // Batch stride 0 (a broadcast operand), on either side and on both.
    const View bcast_a = [&](const Tensor& t) { return t.expand({B, m, k}); };
    const View bcast_b = [&](const Tensor& t) { return t.expand({B, k, n}); };
    Tensor a1 = random_of({1, m, k}, dt), b1 = random_of({1, k, n}, dt);
    expect_bmm_views_match(a1, bcast_a, b, same, "broadcast a");
    expect_bmm_views_match(a, same, b1, bcast_b, "broadcast b");
    expect_bmm_views_match(a1, bcast_a, b1, bcast_b, "broadcast both");
    // Neither inner stride unit: copied first.
    expect_bmm_views_match(
        random_of({B, m, 2 * k}, dt), [&](const Tensor& t) { return t.slice(2, 0, 2 * k, 2); }, b,
        same, "strided a");
    // An odd element offset (unaligned base pointer) with padded rows.
    expect_bmm_views_match(
        random_of({B, m, k + 1}, dt), [&](const Tensor& t) { return t.narrow(2, 1, k); }, b, same,
        "offset a");
    expect_bmm_views_match(
        a, same, random_of({B, k, n + 3}, dt), [&](const Tensor& t) { return t.narrow(2, 3, n); },
        "offset b");
    // The batch dimension permuted into the middle.
    expect_bmm_views_match(
        random_of({m, B, k}, dt), [](const Tensor& t) { return transpose(t, 0, 1); }, b, same,
        "batch not outermost");
  }
}

TEST(CudaMatmul, BmmEmptyAndZeroInner) {
  SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::Float32, DType::BFloat16, DType::Int32}) {
    Tensor out =
        bmm(ones({2, 3, 0}, TensorOptions(dt, kCuda)), ones({2, 0, 4}, TensorOptions(dt, kCuda)));
    expect_values(out.cpu(), {2, 3, 4}, std::vector<double>(24, 0.0));
    Tensor empty_out =
        bmm(ones({2, 0, 5}, TensorOptions(dt, kCuda)), ones({2, 5, 4}, TensorOptions(dt, kCuda)));
    EXPECT_EQ(empty_out.shape(), (Shape{2, 0, 4}));
  }
}

TEST(CudaMatmul, IntegerWrapAroundMatchesCpu) {
  SKIP_WITHOUT_CUDA();
  // Products and sums beyond int64 wrap the same way on both devices.
  Tensor a = full({1, 2, 3}, int64_t(1) << 62, DType::Int64);
  Tensor b = full({1, 3, 2}, 3, DType::Int64);
  expect_bmm_matches_cpu(a, b, "int64 wrap-around");
  Tensor a8 = full({1, 2, 40}, 200, DType::UInt8), b8 = full({1, 40, 2}, 7, DType::UInt8);
  expect_bmm_matches_cpu(a8, b8, "uint8 wrap-around");
}

TEST(CudaMatmul, LargeBFloat16AgainstFloat64) {
  SKIP_WITHOUT_CUDA();
  manual_seed(9);
  const int64_t s = 2048, rows = 16;
  Tensor a = randn({s, s}, DType::BFloat16), b = randn({s, s}, DType::BFloat16);
  Tensor out = mm(a.to(kCuda), b.to(kCuda)).cpu().narrow(0, 0, rows);
  // The inputs are exact in float64; the only errors are float32 accumulation and the final
  // rounding to bfloat16 (2^-9 relative).
  Tensor ref = mm(a.narrow(0, 0, rows).to(DType::Float64), b.to(DType::Float64));
  const std::vector<double> vo = out.to_vector(), vr = ref.to_vector();
  for (size_t i = 0; i < vo.size(); ++i)
    ASSERT_LE(std::abs(vo[i] - vr[i]), std::abs(vr[i]) * 0x1p-8 + 1e-2) << "element " << i;
}

TEST(CudaMatmul, LinearEpiloguesAgainstCpu) {
  SKIP_WITHOUT_CUDA();
  Tf32Guard guard;
  cuda::set_allow_tf32(false);
  manual_seed(10);
  for (DType dt : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16}) {
    for (auto [m, k, n] :
         std::vector<std::array<int64_t, 3>>{{1, 7, 5}, {33, 64, 17}, {128, 96, 256}}) {
      Tensor x = randn({m, k}, dt), w = randn({n, k}, dt), b = randn({n}, dt);
      for (bool with_bias : {false, true}) {
        for (Activation act : {Activation::None, Activation::Relu, Activation::Gelu}) {
          const Tensor bias = with_bias ? b : Tensor();
          Tensor ref = linear_act(x, w, bias, act);
          Tensor out =
              linear_act(x.to(kCuda), w.to(kCuda), with_bias ? b.to(kCuda) : Tensor(), act);
          ASSERT_EQ(out.device(), kCuda);
          Tolerance tol = tolerance(dt, k);
          // cuBLASLt's GELU may evaluate tanh with a fast approximation (relative error
          // ~2^-11), which shows as an absolute error of up to ~1e-3 * |z| near gelu's minimum.
          if (act == Activation::Gelu) tol = {std::max(tol.atol, 2e-3 * max_abs(ref)), 2e-3};
          expect_close(out.cpu(), ref, tol.atol, tol.rtol,
                       std::string(dtype_name(dt)) + " " + std::to_string(m) + "x" +
                           std::to_string(k) + "x" + std::to_string(n) + " bias " +
                           std::to_string(with_bias) + " " + act_name(act));
        }
      }
    }
  }
}

TEST(CudaMatmul, LinearZeroInnerAndStridedOperands) {
  SKIP_WITHOUT_CUDA();
  Tensor b = tensor({1.5, -2}, {2}, TensorOptions(DType::Float32, kCuda));
  expect_values(linear_act(zeros({3, 0}, TensorOptions(DType::Float32, kCuda)),
                           zeros({2, 0}, TensorOptions(DType::Float32, kCuda)), b, Activation::Relu)
                    .cpu(),
                {3, 2}, {1.5, 0, 1.5, 0, 1.5, 0});
  manual_seed(12);
  Tensor x = randn({9, 20}), w = randn({20, 6}), bias = randn({12});
  Tensor xs = x.slice(1, 0, 20, 2);                   // [9, 10], column stride 2
  Tensor wt = transpose(w.slice(0, 0, 20, 2), 0, 1);  // [6, 10], column-major
  Tensor bs = bias.slice(0, 0, 12, 2);                // [6], stride 2
  for (Activation act : {Activation::None, Activation::Relu}) {
    Tensor ref = linear_act(xs, wt, bs, act);
    Tensor out =
        linear_act(x.to(kCuda).slice(1, 0, 20, 2), transpose(w.to(kCuda).slice(0, 0, 20, 2), 0, 1),
                   bias.to(kCuda).slice(0, 0, 12, 2), act);
    EXPECT_LE(max_abs_diff(out.cpu(), ref), 1e-5) << act_name(act);
  }
}

TEST(CudaMatmul, LinearBackwardAgainstCpu) {
  SKIP_WITHOUT_CUDA();
  Tf32Guard guard;
  cuda::set_allow_tf32(false);
  manual_seed(13);
  for (Activation act : {Activation::None, Activation::Relu, Activation::Gelu}) {
    Tensor x = randn({6, 5}), w = randn({4, 5}), b = randn({4}), g = randn({6, 4});
    auto grads = [&](Device d) {
      Tensor xd = x.to(d).requires_grad_(true), wd = w.to(d).requires_grad_(true);
      Tensor bd = b.to(d).requires_grad_(true);
      return autograd::grad({linear_act(xd, wd, bd, act)}, {xd, wd, bd}, {g.to(d)});
    };
    std::vector<Tensor> gc = grads(Device::cpu()), gg = grads(kCuda);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_LE(max_abs_diff(gg[i].cpu(), gc[i]), act == Activation::Gelu ? 1e-2 : 1e-4)
          << act_name(act) << " input " << i;
  }
}

TEST(CudaMatmul, Tf32Switch) {
  SKIP_WITHOUT_CUDA();
  Tf32Guard guard;
  manual_seed(14);
  Tensor a = randn({256, 256}), b = randn({256, 256});
  Tensor ref = mm(a.to(DType::Float64), b.to(DType::Float64));
  const double scale = max_abs(ref);
  cuda::set_allow_tf32(false);
  EXPECT_FALSE(cuda::allow_tf32());
  const double err_off = max_abs_diff(mm(a.to(kCuda), b.to(kCuda)).cpu(), ref) / scale;
  cuda::set_allow_tf32(true);
  EXPECT_TRUE(cuda::allow_tf32());
  const double err_on = max_abs_diff(mm(a.to(kCuda), b.to(kCuda)).cpu(), ref) / scale;
  EXPECT_LE(err_off, 1e-5);
  EXPECT_LE(err_on, 1e-2);
  // TF32 keeps 10 mantissa bits: if the switch had no effect the two errors would be equal.
  EXPECT_GT(err_on, 4 * err_off) << "TF32 on " << err_on << ", off " << err_off;
}

}  // namespace
}  // namespace kiln
