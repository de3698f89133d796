// The CUDA elementwise families (copy, fill, arange, unary, binary, where) against the CPU
// reference, on what the op table (run on CUDA by test_backend_ops) does not reach: every dtype
// and every conversion pair through the backends directly, strided and broadcast operands in
// every copy direction, non-blocking copies from pinned memory, the vector fast path at odd
// sizes and misaligned starts, a tensor larger than 2^24 elements, and integer corner cases.
//
// "Identical" below means the same bits (NaN equals NaN, -0.0 differs from 0.0). Ops that are
// one IEEE operation (add, mul, div, sqrt, floor, ...) or a conversion must be identical to the
// CPU in every dtype; transcendental functions (CUDA's expf is not glibc's) are compared within
// a few units in the last place.
//
// Every test skips with a visible message when there is no GPU.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/tensor_impl.h"
#include "kiln/cuda.h"
#include "test_util.h"
#if defined(KILN_WITH_CUDA)
#include "kernels/copy.h"
#endif

namespace kiln::testing {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: CUDA elementwise test skipped"

const Device kGpu = Device::cuda(0);
const Device kCpu = Device::cpu();

constexpr DType kAllDTypes[] = {DType::Bool,    DType::UInt8,    DType::Int32,   DType::Int64,
                                DType::Float16, DType::BFloat16, DType::Float32, DType::Float64};
constexpr DType kFloatDTypes[] = {DType::Float16, DType::BFloat16, DType::Float32, DType::Float64};

Backend& cpu_backend() { return backend(kCpu); }
Backend& gpu_backend() { return backend(kGpu); }

// Same shape, dtype and bits.
void expect_identical(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  Tensor g = got.cpu().contiguous(), w = want.cpu().contiguous();
  int reported = 0;
  if (is_floating(w.dtype())) {
    const std::vector<double> a = g.to_vector(), e = w.to_vector();  // exact for every float
    for (size_t i = 0; i < a.size(); ++i) {
      const bool same = (std::isnan(a[i]) && std::isnan(e[i])) ||
                        (a[i] == e[i] && std::signbit(a[i]) == std::signbit(e[i]));
      if (!same && reported++ < 5)
        ADD_FAILURE() << what << ": element " << i << " is " << a[i] << ", expected " << e[i];
    }
  } else {
    Tensor gi = g.to(DType::Int64), wi = w.to(DType::Int64);
    const int64_t* a = gi.data<int64_t>();
    const int64_t* e = wi.data<int64_t>();
    for (int64_t i = 0; i < gi.numel(); ++i)
      if (a[i] != e[i] && reported++ < 5)
        ADD_FAILURE() << what << ": element " << i << " is " << a[i] << ", expected " << e[i];
  }
}

std::string pair_name(DType s, DType d) {
  return std::string(dtype_name(s)) + " -> " + dtype_name(d);
}

// Values that exercise every conversion rule: signed zeros, halves (rounding), the edges of
// uint8/int32/float16, out-of-range and non-finite values. 32 of them, as [4, 8].
Tensor special_values() {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> v = {
      0.0,     -0.0,    1.0,       -1.0,       0.5,          -0.5,          1.5,          -1.5,
      2.5,     127.9,   128.0,     255.0,      256.0,        -129.0,        300.7,        -300.7,
      65504.0, 65520.0, 1e6 + 0.5, 16777217.0, 2147483648.0, -2147483649.0, 1e20,         -1e20,
      3.4e38,  1e300,   1e-8,      1e-40,      inf,          -inf,          std::nan(""), 3.0};
  return tensor(v, {4, 8}, TensorOptions(DType::Float64));
}

// ---------------------------------------------------------------- copy

// Every dtype pair in every direction, contiguous: the CUDA conversion equals the CPU's.
TEST(CudaCopy, EveryDTypePairEveryDirectionMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const Tensor values = special_values();
  for (DType s : kAllDTypes) {
    const Tensor src_cpu = values.to(s);  // the CPU's own conversion defines the source
    const Tensor src_gpu = src_cpu.to(kGpu);
    for (DType d : kAllDTypes) {
      Tensor want = empty(src_cpu.shape(), TensorOptions(d, kCpu));
      cpu_backend().copy(src_cpu, want);

      Tensor h2d = empty(want.shape(), TensorOptions(d, kGpu));
      gpu_backend().copy(src_cpu, h2d);
      expect_identical(h2d, want, "host to device " + pair_name(s, d));

      Tensor d2h = empty(want.shape(), TensorOptions(d, kCpu));
      gpu_backend().copy(src_gpu, d2h);
      expect_identical(d2h, want, "device to host " + pair_name(s, d));

      Tensor d2d = empty(want.shape(), TensorOptions(d, kGpu));
      gpu_backend().copy(src_gpu, d2d);
      expect_identical(d2d, want, "device to device " + pair_name(s, d));
    }
  }
}

// int64 values that doubles cannot hold: converted to a float type with one rounding, as the CPU
// does (through double, 2^60 + 2^36 + 1 would round twice and land on 2^60 in float32).
TEST(CudaCopy, WideIntegersToFloatsRoundOnce) {
  SKIP_WITHOUT_GPU();
  const int64_t p60 = int64_t(1) << 60;
  const Tensor src = tensor(std::vector<int64_t>{
      p60 + (int64_t(1) << 36) + 1, -p60 - 1, (int64_t(1) << 53) + 1,
      std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), 65519, 65520});
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16}) {
    Tensor want = empty(src.shape(), TensorOptions(d, kCpu));
    cpu_backend().copy(src, want);
    Tensor got = empty(src.shape(), TensorOptions(d, kGpu));
    gpu_backend().copy(src.to(kGpu), got);
    expect_identical(got, want, std::string("int64 -> ") + dtype_name(d));
  }
}

// A transposed source into a strided destination (every other column of a larger tensor whose
// other elements must stay untouched), converting, in every direction.
TEST(CudaCopy, StridedAndConvertingEveryDirectionMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const Tensor values = special_values();
  for (DType s : kAllDTypes) {
    const Tensor src_cpu = values.to(s);  // [4, 8]
    const Tensor src_gpu = src_cpu.to(kGpu);
    for (DType d : kAllDTypes) {
      auto dst_base = [&](Device dev) { return full({8, 8}, 42, d, dev); };
      auto dst_view = [](const Tensor& base) { return base.slice(1, 0, 8, 2); };  // [8, 4]
      Tensor want = dst_base(kCpu);
      cpu_backend().copy(src_cpu.t(), dst_view(want));

      Tensor h2d = dst_base(kGpu);
      gpu_backend().copy(src_cpu.t(), dst_view(h2d));
      expect_identical(h2d, want, "strided host to device " + pair_name(s, d));

      Tensor d2h = dst_base(kCpu);
      gpu_backend().copy(src_gpu.t(), dst_view(d2h));
      expect_identical(d2h, want, "strided device to host " + pair_name(s, d));

      Tensor d2d = dst_base(kGpu);
      gpu_backend().copy(src_gpu.t(), dst_view(d2d));
      expect_identical(d2d, want, "strided device to device " + pair_name(s, d));
    }
  }
}

TEST(CudaCopy, BroadcastSourceAndSlicedViews) {
  SKIP_WITHOUT_GPU();
  // A stride-0 source (expand) in every direction.
  const Tensor row = tensor({1.5, -2.0, 7.25}, {3});
  Tensor want = row.expand({4, 3}).contiguous();
  for (Device src_dev : {kCpu, kGpu}) {
    for (Device dst_dev : {kCpu, kGpu}) {
      if (src_dev.is_cpu() && dst_dev.is_cpu()) continue;
      Tensor dst = empty({4, 3}, TensorOptions(DType::Float64, dst_dev));
      gpu_backend().copy(row.to(src_dev).expand({4, 3}), dst);
      expect_identical(dst, want.to(DType::Float64),
                       "broadcast " + src_dev.str() + " -> " + dst_dev.str());
    }
  }
  // Views with a storage offset and a step on both sides (narrow + slice).
  Tensor base = arange(0, 120, 1, TensorOptions(DType::Float32)).reshape({10, 12});
  Tensor src_view = base.narrow(0, 3, 5).slice(1, 1, 12, 3);  // [5, 4]
  Tensor cpu_dst = zeros({6, 9}, TensorOptions(DType::BFloat16));
  cpu_backend().copy(src_view, cpu_dst.narrow(0, 1, 5).slice(1, 2, 9, 2));
  Tensor gpu_dst = zeros({6, 9}, TensorOptions(DType::BFloat16, kGpu));
  gpu_backend().copy(base.to(kGpu).narrow(0, 3, 5).slice(1, 1, 12, 3),
                     gpu_dst.narrow(0, 1, 5).slice(1, 2, 9, 2));
  expect_identical(gpu_dst, cpu_dst, "narrowed and stepped views");
}

TEST(CudaCopy, FlatCopyBetweenShapesAndErrors) {
  SKIP_WITHOUT_GPU();
  // Same number of elements, both contiguous: a flat copy, as the old contiguous copy did.
  Tensor src = arange(0, 6, 1, TensorOptions(DType::Int64, kGpu)).reshape({2, 3});
  Tensor dst = empty({6}, TensorOptions(DType::Float32, kGpu));
  gpu_backend().copy(src, dst);
  expect_values(dst.cpu(), {6}, {0, 1, 2, 3, 4, 5});
  // Different shapes that are not both contiguous cannot be paired element by element.
  Tensor strided = empty({3, 2}, TensorOptions(DType::Float32, kGpu)).t();
  EXPECT_THROW_MSG(gpu_backend().copy(strided, dst), Error, "copy", "[2, 3]", "[6]",
                   "not both contiguous");
  EXPECT_THROW_MSG(gpu_backend().copy(src, empty({5}, TensorOptions(DType::Float32, kGpu))), Error,
                   "copy", "6 elements", "5");
  // Nothing to copy is fine in every direction.
  Tensor e = empty({0, 3}, TensorOptions(DType::Float32, kGpu));
  EXPECT_NO_THROW(gpu_backend().copy(empty({0, 3}), e));
  EXPECT_NO_THROW(gpu_backend().copy(e, empty({0, 3})));
  EXPECT_NO_THROW(gpu_backend().copy(e, empty({0, 3}, TensorOptions(DType::Float16, kGpu))));
}

TEST(CudaCopy, AcrossDevices) {
  SKIP_WITHOUT_GPU();
  if (cuda::device_count() < 2)
    GTEST_SKIP() << "one CUDA device: the peer-copy test needs two; skipped";
  const Device other = Device::cuda(1);
  const Tensor values = special_values();
  for (DType s : {DType::Float32, DType::Int64, DType::BFloat16}) {
    for (DType d : {DType::Float32, DType::Float16, DType::Int32}) {
      const Tensor src_cpu = values.to(s);
      Tensor want = full({8, 8}, 42, d, kCpu);
      cpu_backend().copy(src_cpu.t(), want.slice(1, 0, 8, 2));
      // Contiguous and same dtype first (plain peer copy), then strided and converting.
      Tensor same = empty(src_cpu.shape(), TensorOptions(s, other));
      gpu_backend().copy(src_cpu.to(kGpu), same);
      expect_identical(same, src_cpu, "peer copy " + pair_name(s, s));
      Tensor dst = full({8, 8}, 42, d, other);
      gpu_backend().copy(src_cpu.to(kGpu).t(), dst.slice(1, 0, 8, 2));
      expect_identical(dst, want, "strided peer copy " + pair_name(s, d));
    }
  }
}

#if defined(KILN_WITH_CUDA)
TEST(CudaCopy, NonBlockingFromPinnedMemory) {
  SKIP_WITHOUT_GPU();
  const int64_t n = (int64_t(1) << 22) + 3;  // 16 MiB of float32: long enough to be in flight
  Tensor pinned_src = empty({n}).pin_memory();
  EXPECT_TRUE(pinned_src.is_pinned());
  EXPECT_FALSE(empty({n}).is_pinned());
  EXPECT_FALSE(empty({n}, TensorOptions(DType::Float32, kGpu)).is_pinned());
  Tensor values = rand({n});
  cpu_backend().copy(values, pinned_src);

  // Host to device: the host storage is held (by the pending transfer) until the stream has
  // passed it and a later copy releases it, so dropping the caller's handle early is safe.
  Tensor dev = empty({n}, TensorOptions(DType::Float32, kGpu));
  cuda::copy_non_blocking(pinned_src, dev);
  const auto& storage = pinned_src.impl()->storage();
  EXPECT_GE(storage.use_count(), 2) << "the pending transfer must hold the pinned buffer";

  // Device to host into pinned memory: complete only after a synchronisation.
  Tensor pinned_dst = empty({n}).pin_memory();
  cuda::copy_non_blocking(dev, pinned_dst);
  cuda::synchronize_device(0);
  expect_identical(pinned_dst, values, "pinned round trip");

  // After the stream passed both transfers, the next copy lets the held buffers go.
  Tensor scratch = empty({1}, TensorOptions(DType::Float32, kGpu));
  gpu_backend().copy(tensor({1.0}, {1}), scratch);
  EXPECT_EQ(storage.use_count(), 1) << "a finished transfer must release the pinned buffer";

  // The caller may drop the pinned source right after queueing the transfer.
  Tensor dev2 = empty({n}, TensorOptions(DType::Float32, kGpu));
  {
    Tensor temp = empty({n}).pin_memory();
    cpu_backend().copy(values, temp);
    cuda::copy_non_blocking(temp, dev2);
  }
  expect_identical(dev2, values, "transfer from a dropped pinned source");

  // Pageable memory, strided or converting copies fall back to a blocking copy: complete on
  // return, without a synchronisation.
  Tensor pageable = empty({n});
  cuda::copy_non_blocking(dev, pageable);
  expect_identical(pageable, values, "pageable fallback");
  Tensor halves = empty({n}, TensorOptions(DType::Float16));
  cuda::copy_non_blocking(dev, halves);
  expect_identical(halves, values.to(DType::Float16), "converting fallback");
  Tensor pinned_strided = empty({2 * n}).pin_memory().slice(0, 0, 2 * n, 2);
  cuda::copy_non_blocking(dev, pinned_strided);
  expect_identical(pinned_strided, values, "strided pinned fallback");
}
#else
TEST(CudaCopy, NonBlockingFromPinnedMemory) {
  GTEST_SKIP() << "built without the CUDA backend: pinned-memory test skipped";
}
#endif

// ---------------------------------------------------------------- fill and arange

TEST(CudaFill, EveryDTypeAndValueMatchesCpuOnStridedViews) {
  SKIP_WITHOUT_GPU();
  const std::vector<Scalar> fills = {Scalar(0),    Scalar(1),      Scalar(-1),   Scalar(2.7),
                                     Scalar(-2.7), Scalar(300),    Scalar(1e10), Scalar(true),
                                     Scalar(-0.0), Scalar(65519.0)};
  for (DType d : kAllDTypes) {
    for (size_t k = 0; k < fills.size(); ++k) {
      const std::string what =
          std::string("fill ") + dtype_name(d) + " value #" + std::to_string(k);
      // Contiguous (bytes all equal for 0 and -1: the memset path) and a stepped view.
      Tensor want = full({5, 7}, 9, d, kCpu);
      cpu_backend().fill(want, fills[k]);
      Tensor got = full({5, 7}, 9, d, kGpu);
      gpu_backend().fill(got, fills[k]);
      expect_identical(got, want, what + " contiguous");

      Tensor want_v = full({5, 7}, 9, d, kCpu);
      cpu_backend().fill(want_v.slice(1, 1, 7, 2), fills[k]);
      Tensor got_v = full({5, 7}, 9, d, kGpu);
      gpu_backend().fill(got_v.slice(1, 1, 7, 2), fills[k]);
      expect_identical(got_v, want_v, what + " strided");
    }
  }
}

TEST(CudaArange, EveryDTypeBitIdenticalToCpu) {
  SKIP_WITHOUT_GPU();
  const std::vector<std::pair<double, double>> ranges = {
      {0, 1}, {0.1, 0.3}, {-5, 0.7}, {1e6, 1e-3}, {-2.5, 0.5}, {1.0 / 3.0, 1.0 / 7.0}};
  for (DType d : kAllDTypes) {
    for (auto [start, step] : ranges) {
      Tensor want = empty({1000}, TensorOptions(d, kCpu));
      cpu_backend().arange(want, start, step);
      Tensor got = empty({1000}, TensorOptions(d, kGpu));
      gpu_backend().arange(got, start, step);
      expect_identical(got, want,
                       std::string("arange ") + dtype_name(d) + " start " + std::to_string(start) +
                           " step " + std::to_string(step));
    }
  }
}

// ---------------------------------------------------------------- unary

// Values for the unary sweep: both signs, zero, halves, large magnitudes, non-finite.
Tensor unary_inputs(DType d) {
  if (is_floating(d)) {
    const double inf = std::numeric_limits<double>::infinity();
    return tensor({-3.7, -1.0,  -0.5, -0.0,  0.0,  0.25,         0.5, 1.0,  1.5,    2.5,     7.0,
                   80.0, -80.0, 1e-3, -20.0, 30.0, std::nan(""), inf, -inf, 0.7071, 3.14159, -2.5},
                  {2, 11}, TensorOptions(DType::Float64))
        .to(d);
  }
  return tensor(std::vector<int64_t>{-7, -1, 0, 1, 2, 5, 100, 127, -128, 3, 9, -100}, {3, 4}).to(d);
}

// Ops computed by one correctly rounded IEEE operation (or none): identical on both backends.
bool exact_unary(OpId op) {
  switch (op) {
    case OpId::Neg:
    case OpId::Abs:
    case OpId::Sign:
    case OpId::Reciprocal:
    case OpId::Square:
    case OpId::Floor:
    case OpId::Ceil:
    case OpId::Round:
    case OpId::Sqrt:
    case OpId::Rsqrt:
    case OpId::Clamp:
    case OpId::Relu:
    case OpId::LeakyRelu:
    case OpId::LogicalNot:
    case OpId::IsNan:
    case OpId::IsFinite:
      return true;
    default:
      return false;
  }
}

bool bool_result(OpId op) {
  return op == OpId::LogicalNot || op == OpId::IsNan || op == OpId::IsFinite;
}

// A few ulps of the dtype: CUDA's and glibc's transcendental functions differ in the last place
// of float32, which can flip the rounding of a float16/bfloat16 result by one unit.
double math_tolerance(DType d) {
  switch (d) {
    case DType::Float64:
      return 1e-13;
    case DType::Float32:
      return 4e-6;
    case DType::Float16:
      return 2e-3;
    default:
      return 1.6e-2;  // bfloat16
  }
}

// One result per backend, or the kind of error it raised.
struct Outcome {
  Tensor value;
  std::string error;  // "" when it ran; "TypeError" / "Error" otherwise
};

template <class F>
Outcome outcome(F&& f) {
  try {
    return {f(), ""};
  } catch (const TypeError&) {
    return {Tensor(), "TypeError"};
  } catch (const Error& e) {
    return {Tensor(), std::string("Error: ") + e.what()};
  }
}

void expect_same_outcome(const Outcome& got, const Outcome& want, bool exact, DType d,
                         const std::string& what) {
  ASSERT_EQ(got.error, want.error) << what << ": CUDA and CPU must accept the same dtypes";
  if (!want.error.empty()) return;
  if (exact || !is_floating(want.value.dtype())) {
    expect_identical(got.value, want.value, what);
  } else {
    const double tol = math_tolerance(d);
    expect_close(got.value.cpu().to(DType::Float64), want.value.to(DType::Float64), tol, tol, what);
  }
}

TEST(CudaUnary, EveryOpEveryDTypeMatchesCpu) {
  SKIP_WITHOUT_GPU();
  std::vector<OpParams> params(2);
  params[0].a = 0.5;  // slope, alpha, beta, exponent, clamp min
  params[0].b = 2.0;  // softplus threshold, clamp max
  params[0].has_a = params[0].has_b = true;
  params[1].a = 1.5;  // clamp with a lower bound only; gelu's tanh form
  params[1].b = 20.0;
  params[1].has_a = true;
  params[1].mode = 1;
  for (const OpInfo& info : all_ops()) {
    if (info.kind != OpKind::Unary) continue;
    for (DType d : kAllDTypes) {
      const Tensor x = unary_inputs(d);
      const DType out_dtype = bool_result(info.id) ? DType::Bool : d;
      for (size_t k = 0; k < params.size(); ++k) {
        const std::string what = std::string(info.name) + "[" + std::to_string(int(info.id)) +
                                 "] " + dtype_name(d) + " params #" + std::to_string(k);
        auto run = [&](Device dev, const Tensor& in) {
          return outcome([&] {
            Tensor out = empty(in.shape(), TensorOptions(out_dtype, dev));
            backend(dev).unary(info.id, in, out, params[k]);
            return out;
          });
        };
        const Outcome want = run(kCpu, x);
        expect_same_outcome(run(kGpu, x.to(kGpu)), want, exact_unary(info.id), d, what);
        // A transposed input takes the strided kernel; the result must not depend on the path.
        const Outcome want_t = run(kCpu, x.t());
        expect_same_outcome(run(kGpu, x.to(kGpu).t()), want_t, exact_unary(info.id), d,
                            what + " transposed");
      }
    }
  }
}

TEST(CudaUnary, IntegerWrapAround) {
  SKIP_WITHOUT_GPU();
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  Tensor x = tensor(std::vector<int64_t>{lo, hi, -3, 3, int64_t(1) << 40}, {5});
  for (OpId op : {OpId::Neg, OpId::Abs, OpId::Square, OpId::Sign}) {
    for (DType d : {DType::Int64, DType::Int32, DType::UInt8}) {
      Tensor in = x.to(d);
      Tensor want = empty({5}, TensorOptions(d, kCpu));
      cpu_backend().unary(op, in, want, OpParams{});
      Tensor got = empty({5}, TensorOptions(d, kGpu));
      gpu_backend().unary(op, in.to(kGpu), got, OpParams{});
      expect_identical(got, want, std::string(op_name(op)) + " " + dtype_name(d));
    }
  }
}

// ---------------------------------------------------------------- binary and where

std::pair<Tensor, Tensor> binary_inputs(DType d) {
  if (is_floating(d)) {
    const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
    Tensor a = tensor({-7.0, -3.5, -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, 3.0, 7.25, nan, inf, -inf, 5.5,
                       -5.5, 1e-3, 100.0, -2.0},
                      {3, 6}, TensorOptions(DType::Float64));
    Tensor b = tensor({2.0, -2.0, 3.0, -0.5, 1.0, 0.5, 7.0, -7.0, nan, inf, 1.5, -3.0, 0.0, -0.0,
                       2.5, -inf, 0.3, -2.0},
                      {3, 6}, TensorOptions(DType::Float64));
    return {a.to(d), b.to(d)};
  }
  // No zero divisor: integer division by zero is refused by the op layer before any kernel.
  Tensor a = tensor(std::vector<int64_t>{-7, -3, -1, 0, 1, 2, 3, 7, 100, -100, 5, -128}, {3, 4});
  Tensor b = tensor(std::vector<int64_t>{2, -2, 3, -3, 1, -1, 7, 5, -5, 4, 5, 3}, {3, 4});
  return {a.to(d), b.to(d)};
}

bool bool_binary_result(OpId op) {
  switch (op) {
    case OpId::Eq:
    case OpId::Ne:
    case OpId::Lt:
    case OpId::Le:
    case OpId::Gt:
    case OpId::Ge:
    case OpId::LogicalAnd:
    case OpId::LogicalOr:
      return true;
    default:
      return false;
  }
}

TEST(CudaBinary, EveryOpEveryDTypeMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (const OpInfo& info : all_ops()) {
    if (info.kind != OpKind::Binary) continue;
    for (DType d : kAllDTypes) {
      auto [a, b] = binary_inputs(d);
      const DType out_dtype = bool_binary_result(info.id) ? DType::Bool : d;
      // pow is the only binary op that calls a transcendental function.
      const bool exact = info.id != OpId::Pow;
      auto run = [&](Device dev, const Tensor& x, const Tensor& y) {
        return outcome([&] {
          Tensor out = empty(x.shape(), TensorOptions(out_dtype, dev));
          backend(dev).binary(info.id, x, y, out);
          return out;
        });
      };
      const std::string what = std::string(info.name) + " " + dtype_name(d);
      expect_same_outcome(run(kGpu, a.to(kGpu), b.to(kGpu)), run(kCpu, a, b), exact, d, what);
      // Strided operands, and a broadcast number on either side (x * 0.5, 0.5 - x).
      expect_same_outcome(run(kGpu, a.to(kGpu).t(), b.to(kGpu).t()), run(kCpu, a.t(), b.t()), exact,
                          d, what + " transposed");
      // (b is the tensor divided by: it has no integer zero.)
      auto number = [](const Tensor& t, const Shape& shape) {
        return t.narrow(0, 0, 1).narrow(1, 0, 1).expand(shape);
      };
      expect_same_outcome(run(kGpu, a.to(kGpu), number(b.to(kGpu), a.shape())),
                          run(kCpu, a, number(b, a.shape())), exact, d, what + " tensor op number");
      expect_same_outcome(run(kGpu, number(a.to(kGpu), b.shape()), b.to(kGpu)),
                          run(kCpu, number(a, b.shape()), b), exact, d, what + " number op tensor");
    }
  }
}

TEST(CudaBinary, IntegerDivisionCornerCases) {
  SKIP_WITHOUT_GPU();
  // Python semantics (floor toward -inf, remainder with the divisor's sign) and wrap-around.
  const int64_t lo = std::numeric_limits<int64_t>::min();
  Tensor a = tensor(std::vector<int64_t>{7, -7, 7, -7, lo, lo, 0, 9});
  Tensor b = tensor(std::vector<int64_t>{2, 2, -2, -2, -1, 3, -5, 3});
  using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
  const BinaryFn floor_div_fn = &floor_divide, remainder_fn = &remainder, div_fn = &kiln::div;
  for (BinaryFn f : {floor_div_fn, remainder_fn}) {
    expect_identical(f(a.to(kGpu), b.to(kGpu)), f(a, b), "int64 floor_divide / remainder");
    expect_identical(f(a.to(kGpu).to(DType::Int32), b.to(kGpu).to(DType::Int32)),
                     f(a.to(DType::Int32), b.to(DType::Int32)), "int32 floor_divide / remainder");
  }
  // Division by zero is refused on CUDA exactly as on the CPU, whatever the position of the 0.
  Tensor zero_somewhere = tensor(std::vector<int64_t>{3, 1, 0, 2});
  Tensor x = tensor(std::vector<int64_t>{5, 6, 7, 8});
  for (Device dev : {kCpu, kGpu}) {
    EXPECT_THROW_MSG(floor_divide(x.to(dev), zero_somewhere.to(dev)), ValueError,
                     "floor_divide: integer division by zero");
    EXPECT_THROW_MSG(remainder(x.to(dev), zero_somewhere.to(dev)), ValueError,
                     "remainder: integer division by zero");
  }
  // Floating division by zero is IEEE: inf, -inf, NaN, and floor_divide keeps the signs.
  Tensor fa = tensor({1.0, -1.0, 0.0, 5.0}), fb = tensor({0.0, 0.0, 0.0, -0.0});
  for (BinaryFn f : {floor_div_fn, remainder_fn, div_fn})
    expect_identical(f(fa.to(kGpu), fb.to(kGpu)), f(fa, fb), "float division by zero");
}

TEST(CudaWhere, StridedAndBroadcastOperandsEveryDType) {
  SKIP_WITHOUT_GPU();
  const Tensor cond =
      tensor(std::vector<int64_t>{1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1}, {3, 4}).to(DType::Bool);
  // a: a transposed view; b: one row broadcast over the rows (stride 0); cond: transposed too.
  auto a_view = [](const Tensor& flat) { return flat.narrow(0, 0, 12).reshape({4, 3}).t(); };
  auto b_view = [](const Tensor& flat) {
    return flat.narrow(0, 0, 4).reshape({1, 4}).expand({3, 4});
  };
  auto c_view = [](const Tensor& c) { return c.t().contiguous().t(); };
  for (DType d : kAllDTypes) {
    auto [a, b] = binary_inputs(d);
    const Tensor fa = a.reshape({-1}), fb = b.reshape({-1});
    Tensor want = empty({3, 4}, TensorOptions(d, kCpu));
    cpu_backend().where(c_view(cond), a_view(fa), b_view(fb), want);
    Tensor got = empty({3, 4}, TensorOptions(d, kGpu));
    gpu_backend().where(c_view(cond.to(kGpu)), a_view(fa.to(kGpu)), b_view(fb.to(kGpu)), got);
    expect_identical(got, want, std::string("where ") + dtype_name(d));
    // The values really come from both sides.
    if (d != DType::Bool) {
      EXPECT_FALSE(equal(want, b_view(fb).contiguous())) << dtype_name(d);
    }
  }
}

// ---------------------------------------------------------------- the vector fast path

// add, mul, a scalar operand on either side, and unary ops, on contiguous float tensors of odd
// sizes, aligned and misaligned (narrow(0, 1, n - 1)), against the CPU; transcendental ops
// (gelu) within tolerance, everything else identical.
TEST(CudaVectorPath, OddSizesAndMisalignedStartsMatchCpu) {
  SKIP_WITHOUT_GPU();
  manual_seed(5);
  for (DType d : {DType::Float32, DType::BFloat16, DType::Float16}) {
    for (int64_t n : {1, 2, 3, 7, 8, 9, 15, 17, 1023, 4099, (1 << 20) + 5}) {
      const Tensor a_cpu = randn({n + 1}).to(d), b_cpu = randn({n + 1}).to(d);
      const Tensor a_gpu = a_cpu.to(kGpu), b_gpu = b_cpu.to(kGpu);
      for (int64_t start : {0, 1}) {
        const int64_t len = n + 1 - start;
        const Tensor a = a_cpu.narrow(0, start, len), b = b_cpu.narrow(0, start, len);
        const Tensor ga = a_gpu.narrow(0, start, len), gb = b_gpu.narrow(0, start, len);
        const std::string what = std::string(dtype_name(d)) + " n " + std::to_string(len) +
                                 " start " + std::to_string(start);
        expect_identical(ga + gb, a + b, "add " + what);
        expect_identical(ga * gb, a * b, "mul " + what);
        expect_identical(ga - gb, a - b, "sub " + what);
        expect_identical(ga / gb, a / b, "div " + what);
        expect_identical(ga * 0.5, a * 0.5, "tensor * number " + what);
        expect_identical(0.25 - ga, 0.25 - a, "number - tensor " + what);
        expect_identical(relu(ga), relu(a), "relu " + what);
        expect_identical(neg(ga), neg(a), "neg " + what);
        expect_identical(sqrt(abs(ga)), sqrt(abs(a)), "sqrt " + what);
        const double tol = math_tolerance(d);
        expect_close(gelu(ga).cpu().to(DType::Float64), gelu(a).to(DType::Float64), tol, tol,
                     "gelu " + what);
        expect_close(gelu(ga, "tanh").cpu().to(DType::Float64), gelu(a, "tanh").to(DType::Float64),
                     tol, tol, "gelu tanh " + what);
        // The same values as a stride-2 view take the strided kernel: the same bits.
        const Tensor gs = ga.unsqueeze(1).expand({len, 2}).contiguous().select(1, 0);
        if (len > 1) {
          ASSERT_FALSE(gs.is_contiguous());
        }
        expect_identical(gs + gb, ga + gb, "strided add " + what);
        expect_identical(gs * 0.5, ga * 0.5, "strided tensor * number " + what);
        expect_identical(gelu(gs), gelu(ga), "strided gelu " + what);
        expect_identical(gelu(gs, "tanh"), gelu(ga, "tanh"), "strided gelu tanh " + what);
      }
    }
  }
}

// More than 2^24 elements (float32 loses integer precision there; indices must not): the last
// elements are where a 32-bit or float index would go wrong.
TEST(CudaVectorPath, LargeTensorMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const int64_t n = (int64_t(1) << 24) + 3;
  Tensor idx = arange(0, double(n), 1, TensorOptions(DType::Int64, kGpu));
  EXPECT_EQ(int64_t(idx.narrow(0, n - 1, 1).item()), n - 1);
  manual_seed(11);
  const Tensor a = randn({n}), b = randn({n});
  const Tensor ga = a.to(kGpu), gb = b.to(kGpu);
  expect_identical(ga + gb, a + b, "add 2^24 + 3");
  expect_identical(ga * 0.5, a * 0.5, "mul by a number 2^24 + 3");
  expect_identical(ga.narrow(0, 1, n - 1) * gb.narrow(0, 0, n - 1),
                   a.narrow(0, 1, n - 1) * b.narrow(0, 0, n - 1), "misaligned mul 2^24 + 2");
  expect_identical(ga.to(DType::BFloat16), a.to(DType::BFloat16), "convert 2^24 + 3");
  // A transposing copy of the last 2^24 elements (a strided kernel with two dims).
  Tensor t = ga.narrow(0, 3, n - 3).reshape({4096, 4096}).t().contiguous();
  expect_identical(t, a.narrow(0, 3, n - 3).reshape({4096, 4096}).t().contiguous(),
                   "transpose copy 2^24");
}

}  // namespace
}  // namespace kiln::testing
