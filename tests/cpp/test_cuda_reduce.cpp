// Reductions, arg-reductions, softmax and the fused norm of a tensor list: the CUDA kernels
// (cuda/kernels/reduce.cu, softmax.cu, norm.cu) against the CPU reference on shapes that reach
// each of their paths (thread / warp / block per output, split rows, column layouts, vector
// loads). The GPU tests skip without a device; the CPU reference of norm_of_tensors is checked
// against its composite everywhere.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "test_util.h"

namespace kiln::testing {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: CUDA reduction test skipped"

Device gpu() { return Device::cuda(0); }

constexpr double kInf = std::numeric_limits<double>::infinity();

// sum over tensors of ||x||_p^p (or max ||x||_inf) from the norm op, in float64.
double composite_norm_power(const std::vector<Tensor>& xs, double p) {
  double total = 0;
  for (const Tensor& x : xs) {
    if (x.numel() == 0) continue;
    const double n = norm(x.cpu().to(DType::Float64), p).item();
    if (std::isinf(p))
      total = std::isnan(n) || std::isnan(total) ? NAN : std::max(total, n);
    else
      total += std::pow(n, p);
  }
  return total;
}

double norm_of_tensors_on(Device device, const std::vector<Tensor>& xs, double p) {
  Tensor out = empty({1}, TensorOptions(DType::Float64, device));
  backend(device).norm_of_tensors(xs, p, out);
  return out.cpu().item();
}

void expect_rel(double got, double want, double rtol, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << ": got " << got << ", expected NaN";
    return;
  }
  EXPECT_LE(std::abs(got - want), rtol * std::abs(want) + 1e-300)
      << what << ": got " << got << ", expected " << want;
}

// ---------------------------------------------------------------------------------------------
// CPU reference of norm_of_tensors (runs everywhere).

std::vector<Tensor> mixed_tensors(DType dtype) {
  manual_seed(7);
  std::vector<Tensor> xs;
  xs.push_back(randn({3, 5}, TensorOptions(dtype)));
  xs.push_back(randn({17}, TensorOptions(dtype)));
  xs.push_back(randn({4, 6}, TensorOptions(dtype)).t());  // strided
  xs.push_back(empty({0, 3}, TensorOptions(dtype)));
  xs.push_back(randn({2, 3, 4}, TensorOptions(dtype)) * 10);
  xs.push_back(full({1, 1}, -2.5, dtype));
  return xs;
}

TEST(NormOfTensorsCpu, MatchesCompositeForEachP) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::BFloat16}) {
    const std::vector<Tensor> xs = mixed_tensors(dtype);
    ASSERT_FALSE(xs[2].is_contiguous());
    for (double p : {1.0, 2.0, 3.0, 0.5, kInf}) {
      const double got = norm_of_tensors_on(Device::cpu(), xs, p);
      // The composite rounds norm(x) to float64 then raises it back to p: a few ulps.
      expect_rel(got, composite_norm_power(xs, p), 1e-12,
                 std::string(dtype_name(dtype)) + " p=" + std::to_string(p));
    }
  }
}

TEST(NormOfTensorsCpu, KnownValues) {
  std::vector<Tensor> xs = {tensor({3.0, -4.0}), tensor({1.0, -2.0, 2.0}, {3, 1})};
  EXPECT_DOUBLE_EQ(norm_of_tensors_on(Device::cpu(), xs, 2), 9 + 16 + 1 + 4 + 4);
  EXPECT_DOUBLE_EQ(norm_of_tensors_on(Device::cpu(), xs, 1), 3 + 4 + 1 + 2 + 2);
  EXPECT_DOUBLE_EQ(norm_of_tensors_on(Device::cpu(), xs, 3), 27 + 64 + 1 + 8 + 8);
  EXPECT_DOUBLE_EQ(norm_of_tensors_on(Device::cpu(), xs, kInf), 4);
  EXPECT_DOUBLE_EQ(norm_of_tensors_on(Device::cpu(), {}, 2), 0);
  EXPECT_DOUBLE_EQ(norm_of_tensors_on(Device::cpu(), {empty({0})}, kInf), 0);
}

TEST(NormOfTensorsCpu, NanPropagatesAndBadArgumentsRaise) {
  std::vector<Tensor> xs = {tensor({1.0, NAN}), tensor({5.0})};
  EXPECT_TRUE(std::isnan(norm_of_tensors_on(Device::cpu(), xs, kInf)));
  EXPECT_TRUE(std::isnan(norm_of_tensors_on(Device::cpu(), xs, 2)));
  xs = {tensor({5.0}), tensor({1.0, NAN})};  // NaN after the maximum
  EXPECT_TRUE(std::isnan(norm_of_tensors_on(Device::cpu(), xs, kInf)));
  EXPECT_THROW_MSG(
      norm_of_tensors_on(Device::cpu(), {tensor({1.0}), tensor({1.0}, {}, DType::Float64)}, 2),
      Error, "norm_of_tensors", "one floating dtype", "float64");
  EXPECT_THROW_MSG(norm_of_tensors_on(Device::cpu(), {tensor({1.0})}, 0), Error, "norm_of_tensors",
                   "p must be positive");
  Tensor bad_out = empty({1}, TensorOptions(DType::Float32));
  EXPECT_THROW_MSG(backend(Device::cpu()).norm_of_tensors({tensor({1.0})}, 2, bad_out), Error,
                   "norm_of_tensors", "float64");
}

// ---------------------------------------------------------------------------------------------
// reduce

// x [3, 4, 5, 6] permuted to [5, 3, 6, 4]: no dim is contiguous in its natural place.
Tensor strided_4d(DType dtype) {
  manual_seed(11);
  Tensor base = dtype == DType::Int64
                    ? randint(-1000, 1000, {3, 4, 5, 6})
                    : randn({3, 4, 5, 6}, TensorOptions(DType::Float64)).to(dtype);
  return permute(base.to(gpu()), {2, 0, 3, 1});
}

TEST(CudaReduce, EveryDimSubsetOfStrided4D) {
  SKIP_WITHOUT_CUDA();
  struct Case {
    DType dtype;
    double tol;
  };
  for (Case c : {Case{DType::Float32, 1e-5}, Case{DType::Float64, 1e-10}, Case{DType::Int64, 0}}) {
    const Tensor x = strided_4d(c.dtype);
    ASSERT_FALSE(x.is_contiguous());
    const Tensor xc = x.cpu();
    for (int mask = 1; mask < 16; ++mask) {
      std::vector<int64_t> dims;
      for (int64_t d = 0; d < 4; ++d)
        if (mask & (1 << d)) dims.push_back(d);
      for (bool keepdim : {false, true}) {
        const std::string what = std::string(dtype_name(c.dtype)) + " mask " +
                                 std::to_string(mask) + (keepdim ? " keepdim" : "");
        expect_close(sum(x, dims, keepdim).cpu(), sum(xc, dims, keepdim), c.tol, c.tol,
                     "sum " + what);
        expect_close(amax(x, dims, keepdim).cpu(), amax(xc, dims, keepdim), 0, 0, "amax " + what);
        expect_close(amin(x, dims, keepdim).cpu(), amin(xc, dims, keepdim), 0, 0, "amin " + what);
      }
    }
    for (int64_t d = 0; d < 4; ++d) {
      const Tensor small = c.dtype == DType::Int64 ? x : x / 2;  // keep products in range
      expect_close(prod(small, d).cpu(), prod(small.cpu(), d), c.tol, c.tol,
                   "prod dim " + std::to_string(d));
    }
  }
}

TEST(CudaReduce, NonContiguousOutputThroughTheBackend) {
  SKIP_WITHOUT_CUDA();
  manual_seed(3);
  const Tensor x = randn({6, 7, 8}).to(gpu());
  // out keeps dim 1 with size 1, and is a transposed view of a [8, 1, 6] buffer.
  const Tensor buf = zeros({8, 1, 6}, TensorOptions(DType::Float32, gpu()));
  const Tensor out = permute(buf, {2, 1, 0});
  backend(gpu()).reduce(OpId::Sum, x, {1}, out);
  expect_close(out.cpu(), sum(x.cpu(), {1}, true), 1e-5, 1e-5, "sum into a strided output");
}

TEST(CudaReduce, LargeRowsAndColumns) {
  SKIP_WITHOUT_CUDA();
  manual_seed(5);
  const Tensor rows = randn({4, int64_t(1) << 20});
  const Tensor rows_g = rows.to(gpu());
  const Tensor rows64 = rows.to(DType::Float64);
  expect_close(sum(rows_g, {1}).cpu().to(DType::Float64), sum(rows64, {1}), 1e-5, 1e-5,
               "sum of 2^20-element rows");
  expect_close(amax(rows_g, {1}).cpu(), amax(rows, {1}), 0, 0, "amax of 2^20-element rows");
  // Reducing the long dim of [2^20, 4]: outputs along the contiguous dim (column kernel, split).
  const Tensor cols = randn({int64_t(1) << 20, 4});
  expect_close(sum(cols.to(gpu()), {0}).cpu().to(DType::Float64), sum(cols.to(DType::Float64), {0}),
               1e-5, 1e-5, "sum over dim 0 of [2^20, 4]");
  expect_close(amin(cols.to(gpu()), {0}).cpu(), amin(cols, {0}), 0, 0, "amin over dim 0");
  // Many outputs along the contiguous dim, few reduced: [3, 2^20] over dim 0.
  const Tensor wide = randn({3, int64_t(1) << 20});
  expect_close(sum(wide.to(gpu()), {0}).cpu(), sum(wide, {0}), 1e-5, 1e-5,
               "sum over dim 0 of "
               "[3, 2^20]");
}

TEST(CudaReduce, ManyTinyRows) {
  SKIP_WITHOUT_CUDA();
  manual_seed(6);
  for (int64_t n : {1, 3, 16, 17, 37, 2049}) {
    const int64_t rows = (int64_t(1) << 21) / n;
    const Tensor x = randn({rows, n});
    expect_close(sum(x.to(gpu()), {1}).cpu(), sum(x, {1}), 1e-5, 1e-5,
                 "sum of rows of " + std::to_string(n));
    expect_close(amax(x.to(gpu()), {1}).cpu(), amax(x, {1}), 0, 0,
                 "amax of rows of " + std::to_string(n));
  }
}

TEST(CudaReduce, FullSumOfTwoToTheTwentyFourPlusFive) {
  SKIP_WITHOUT_CUDA();
  manual_seed(8);
  const int64_t n = (int64_t(1) << 24) + 5;
  const Tensor x = rand({n});  // all positive: the relative error of the sum is meaningful
  const double want = sum(x.to(DType::Float64)).item();
  const double got = sum(x.to(gpu())).cpu().item();
  expect_rel(got, want, 1e-6, "float32 sum of 2^24 + 5 elements");
  const double got_max = amax(x.to(gpu())).cpu().item();
  EXPECT_EQ(got_max, amax(x).item());
}

TEST(CudaReduce, BFloat16AndHalfSums) {
  SKIP_WITHOUT_CUDA();
  manual_seed(9);
  for (DType dtype : {DType::BFloat16, DType::Float16}) {
    const Tensor x = randn({64, 3000}).to(dtype);
    // Both accumulate in double and round once to the storage type: at most an ulp apart.
    const double ulp = dtype == DType::BFloat16 ? 1.0 / 128 : 1.0 / 1024;
    expect_close(sum(x.to(gpu()), {1}).cpu().to(DType::Float64), sum(x, {1}).to(DType::Float64),
                 1e-2, ulp, std::string(dtype_name(dtype)) + " row sums");
    expect_close(sum(x.to(gpu()), {0}).cpu().to(DType::Float64), sum(x, {0}).to(DType::Float64),
                 1e-2, ulp, std::string(dtype_name(dtype)) + " column sums");
    expect_close(amax(x.to(gpu()), {1}).cpu(), amax(x, {1}), 0, 0, "amax");
  }
}

TEST(CudaReduce, SpecialValuesAndEmptyReductions) {
  SKIP_WITHOUT_CUDA();
  const Tensor x = tensor({1.0, NAN, 3.0, -kInf, 2.0, 5.0, kInf, 0.0}, {2, 4});
  for (int64_t d : {0, 1}) {
    expect_close(amax(x.to(gpu()), {d}).cpu(), amax(x, {d}), 0, 0, "amax with NaN");
    expect_close(amin(x.to(gpu()), {d}).cpu(), amin(x, {d}), 0, 0, "amin with NaN");
    expect_close(sum(x.to(gpu()), {d}).cpu(), sum(x, {d}), 0, 0, "sum with NaN and inf");
  }
  const Tensor e = empty({3, 0, 2}, TensorOptions(DType::Float32, gpu()));
  expect_values(sum(e, {1}).cpu(), {3, 2}, {0, 0, 0, 0, 0, 0});
  expect_values(prod(e, 1).cpu(), {3, 2}, {1, 1, 1, 1, 1, 1});
  // int64 sums wrap like two's complement, as on the CPU.
  const Tensor big = tensor(std::vector<int64_t>{int64_t(1) << 62, int64_t(1) << 62, 5}, {3});
  EXPECT_TRUE(equal(sum(big.to(gpu())).cpu(), sum(big)));
  const Tensor ints = randint(-3, 4, {5, 40}, TensorOptions(DType::Int32));
  EXPECT_TRUE(equal(prod(ints.to(gpu()), 1).cpu(), prod(ints, 1)));
  EXPECT_TRUE(equal(sum(ints.to(gpu()), {0}).cpu(), sum(ints, {0})));
}

// ---------------------------------------------------------------------------------------------
// arg_reduce

TEST(CudaArgReduce, TiesTakeTheFirstIndexAndNanWins) {
  SKIP_WITHOUT_CUDA();
  const Tensor x =
      tensor({1, 7, 7, 2, /**/ 3, 3, 3, 3, /**/ 0, NAN, 9, NAN, /**/ -1, -5, -5, 4}, {4, 4});
  for (int64_t d : {0, 1}) {
    auto [v, i] = max(x.to(gpu()), d);
    auto [vc, ic] = max(x, d);
    expect_close(v.cpu(), vc, 0, 0, "max values");
    EXPECT_TRUE(equal(i.cpu(), ic)) << "max indices along " << d;
    auto [v2, i2] = min(x.to(gpu()), d);
    auto [vc2, ic2] = min(x, d);
    expect_close(v2.cpu(), vc2, 0, 0, "min values");
    EXPECT_TRUE(equal(i2.cpu(), ic2)) << "min indices along " << d;
  }
  // The expected values, spelled out: first occurrence, and the first NaN.
  expect_values(argmax(x.to(gpu()), 1).cpu().to(DType::Float64), {4}, {1, 0, 1, 3});
  expect_values(argmin(x.to(gpu()), 1).cpu().to(DType::Float64), {4}, {0, 0, 1, 1});
}

TEST(CudaArgReduce, LongRowsColumnsAndIntegers) {
  SKIP_WITHOUT_CUDA();
  manual_seed(12);
  // One row of 2^20 with the maximum at 5000 and again at 900000: the split block path.
  Tensor flat = rand({int64_t(1) << 20});
  flat.narrow(0, 5000, 1).fill_(2.0);
  flat.narrow(0, 900000, 1).fill_(2.0);
  EXPECT_EQ(argmax(flat.to(gpu())).cpu().item(), 5000);
  flat.narrow(0, 700000, 1).fill_(NAN);
  flat.narrow(0, 800000, 1).fill_(NAN);
  EXPECT_EQ(argmax(flat.to(gpu())).cpu().item(), 700000);
  EXPECT_EQ(argmin(flat.to(gpu())).cpu().item(), 700000);
  // [2^18, 4] along dim 0: the column kernel with splits; ties from a small integer range.
  const Tensor cols = randint(0, 50, {int64_t(1) << 18, 4}).to(DType::Float32);
  EXPECT_TRUE(equal(argmax(cols.to(gpu()), 0).cpu(), argmax(cols, 0)));
  EXPECT_TRUE(equal(argmin(cols.to(gpu()), 0).cpu(), argmin(cols, 0)));
  for (DType dtype : {DType::Int32, DType::UInt8, DType::Int64, DType::BFloat16}) {
    const Tensor xi = randint(0, 20, {300, 77}).to(dtype);
    for (int64_t d : {0, 1}) {
      auto [v, i] = max(xi.to(gpu()), d);
      auto [vc, ic] = max(xi, d);
      EXPECT_TRUE(equal(v.cpu(), vc)) << dtype_name(dtype) << " max values along " << d;
      EXPECT_TRUE(equal(i.cpu(), ic)) << dtype_name(dtype) << " max indices along " << d;
      EXPECT_TRUE(equal(argmin(xi.to(gpu()), d).cpu(), argmin(xi, d)))
          << dtype_name(dtype) << " argmin along " << d;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// softmax

// softmax and log_softmax of xg (a CUDA tensor, possibly a strided view) against the CPU: float32
// and float64 against the float64 reference, reduced types against the CPU in the same type (both
// compute in float and round once, so they differ by at most an ulp).
void check_softmax(const Tensor& xg, int64_t dim, const std::string& what) {
  const Tensor x = xg.cpu();
  const Tensor x64 = x.to(DType::Float64);
  const bool half = x.dtype() == DType::BFloat16 || x.dtype() == DType::Float16;
  const double tol = half ? (x.dtype() == DType::BFloat16 ? 8e-3 : 1e-3) : 1e-5;
  const Tensor ref_sm = half ? softmax(x, dim).to(DType::Float64) : softmax(x64, dim);
  const Tensor ref_lsm = half ? log_softmax(x, dim).to(DType::Float64) : log_softmax(x64, dim);
  expect_close(softmax(xg, dim).cpu().to(DType::Float64), ref_sm, 1e-7, tol, "softmax " + what);
  expect_close(log_softmax(xg, dim).cpu().to(DType::Float64), ref_lsm, 1e-5, tol,
               "log_softmax " + what);
}

TEST(CudaSoftmax, RowsOfEveryKernelSize) {
  SKIP_WITHOUT_CUDA();
  manual_seed(13);
  for (int64_t n : {1, 7, 100, 128, 129, 512, 1000, 1024, 4096, 8192, 8193, 10000, 100000}) {
    const int64_t rows = std::max<int64_t>(2, (int64_t(1) << 20) / n);
    check_softmax((randn({rows, n}) * 4).to(gpu()), 1, "rows of " + std::to_string(n));
  }
}

TEST(CudaSoftmax, BFloat16AndFloat64Rows) {
  SKIP_WITHOUT_CUDA();
  manual_seed(14);
  for (DType dtype : {DType::BFloat16, DType::Float16, DType::Float64}) {
    for (int64_t n : {100, 4096, 10000}) {
      check_softmax((randn({64, n}) * 3).to(dtype).to(gpu()), 1,
                    std::string(dtype_name(dtype)) + " rows of " + std::to_string(n));
    }
  }
}

TEST(CudaSoftmax, OtherDimsAndStridedInputs) {
  SKIP_WITHOUT_CUDA();
  manual_seed(15);
  check_softmax(randn({300, 2000}).to(gpu()), 0, "dim 0 of [300, 2000] (columns)");
  check_softmax(randn({300, 50}).to(gpu()), 0, "dim 0 of [300, 50]");
  check_softmax(randn({4, 33, 5, 7}).to(gpu()), 1, "dim 1 of [4, 33, 5, 7]");
  const Tensor t = randn({1000, 6}).to(gpu()).t();
  ASSERT_FALSE(t.is_contiguous());
  check_softmax(t, 1, "transposed [6, 1000] along dim 1");
  check_softmax(randn({3000, 1000}).to(gpu()).t(), 0, "transposed [1000, 3000] along dim 0");
  // Row starts one element off the 16-byte alignment: the scalar path of the rows kernel.
  const Tensor base = randn({64 * 4096 + 1}).to(gpu());
  const Tensor shifted = narrow(base, 0, 1, 64 * 4096).reshape({64, 4096});
  check_softmax(shifted, 1, "misaligned rows of 4096");
  check_softmax(randn({}).to(gpu()), 0, "0-d");
}

TEST(CudaSoftmax, SpecialValuesMatchTheCpu) {
  SKIP_WITHOUT_CUDA();
  const double inf = kInf;
  const Tensor x = tensor({1,    2,    3,    4,     // plain
                           -inf, -inf, -inf, -inf,  // all -inf: NaN row
                           -inf, 0,    1,    -inf,  // some -inf: zeros there
                           1,    NAN,  2,    3,     // NaN: NaN row
                           inf,  1,    2,    3},    // +inf: NaN row (inf - inf)
                          {5, 4});
  for (DType dtype : {DType::Float32, DType::BFloat16}) {
    const Tensor xd = x.to(dtype);
    const double tol = dtype == DType::BFloat16 ? 8e-3 : 1e-6;
    expect_close(softmax(xd.to(gpu()), 1).cpu(), softmax(xd, 1), tol, tol,
                 std::string("softmax special values ") + dtype_name(dtype));
    expect_close(log_softmax(xd.to(gpu()), 1).cpu(), log_softmax(xd, 1), tol, tol,
                 std::string("log_softmax special values ") + dtype_name(dtype));
    // The same rows long enough for the block and long-row kernels.
    for (int64_t n : {4096, 20000}) {
      const Tensor wide = cat({xd, full({5, n - 4}, -inf, dtype)}, 1);
      expect_close(softmax(wide.to(gpu()), 1).cpu(), softmax(wide, 1), tol, tol,
                   "softmax special values, rows of " + std::to_string(n));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// norm_of_tensors

TEST(CudaNormOfTensors, HundredTensorsOfMixedSizes) {
  SKIP_WITHOUT_CUDA();
  manual_seed(16);
  for (DType dtype : {DType::Float32, DType::BFloat16, DType::Float64}) {
    std::vector<Tensor> cpu_xs, gpu_xs;
    for (int i = 0; i < 100; ++i) {
      // Mostly small, some large, some empty.
      const int64_t n = i % 10 == 0 ? 100000 + i : i % 13 == 5 ? 0 : (i * 37) % 1000;
      Tensor x = (randn({n}) * (1 + i % 7)).to(dtype);
      cpu_xs.push_back(x);
      gpu_xs.push_back(x.to(gpu()));
    }
    Tensor strided = randn({50, 30}).to(dtype).t();
    cpu_xs.push_back(strided);
    gpu_xs.push_back(strided.to(gpu()).t().contiguous().t());
    ASSERT_FALSE(gpu_xs.back().is_contiguous());
    for (double p : {1.0, 2.0, 3.0, kInf}) {
      const double want = norm_of_tensors_on(Device::cpu(), cpu_xs, p);
      const double got = norm_of_tensors_on(gpu(), gpu_xs, p);
      expect_rel(got, want, std::isinf(p) ? 0 : 1e-12,
                 std::string(dtype_name(dtype)) + " p=" + std::to_string(p));
    }
  }
}

TEST(CudaNormOfTensors, NanEmptyAndErrors) {
  SKIP_WITHOUT_CUDA();
  std::vector<Tensor> xs = {tensor({1.0, 2.0}).to(gpu()), tensor({NAN}).to(gpu()),
                            tensor({7.0}).to(gpu())};
  EXPECT_TRUE(std::isnan(norm_of_tensors_on(gpu(), xs, kInf)));
  EXPECT_TRUE(std::isnan(norm_of_tensors_on(gpu(), xs, 2)));
  EXPECT_EQ(norm_of_tensors_on(gpu(), {}, 2), 0);
  EXPECT_EQ(norm_of_tensors_on(gpu(), {empty({0}, TensorOptions(DType::Float32, gpu()))}, kInf), 0);
  EXPECT_THROW_MSG(
      norm_of_tensors_on(gpu(),
                         {tensor({1.0}).to(gpu()), tensor({1.0}, {}, DType::Float64).to(gpu())}, 2),
      Error, "norm_of_tensors", "one floating dtype");
}

}  // namespace
}  // namespace kiln::testing
