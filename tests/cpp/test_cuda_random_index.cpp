// The CUDA random and indexing kernels (cuda/kernels/random.cu, cuda/kernels/index.cu) against
// the CPU reference. Random draws must equal the CPU's bit for bit for the same seed and offset
// (the dropout mask included); index ops must equal the CPU exactly wherever the result does not
// depend on the order of floating-point additions, and closely where it does (atomics).
// Every test skips with a message when there is no GPU.
#include <cstring>

#include "kiln/random.h"
#include "test_util.h"

namespace kiln::testing {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: CUDA random/index test skipped"

const Device kGpu = Device::cuda(0);

// Same shape, dtype and bytes (so NaN payloads, signed zeros and the last bit all count).
void expect_bitwise(const Tensor& gpu, const Tensor& cpu, const std::string& what) {
  ASSERT_TRUE(gpu.device().is_cuda()) << what << ": expected a CUDA result";
  ASSERT_TRUE(cpu.device().is_cpu()) << what << ": expected a CPU reference";
  Tensor g = gpu.cpu().contiguous(), c = cpu.contiguous();
  ASSERT_EQ(g.dtype(), c.dtype()) << what;
  ASSERT_EQ(g.shape(), c.shape()) << what << ": " << shape_str(g.shape()) << " vs "
                                  << shape_str(c.shape());
  const size_t es = element_size(c.dtype());
  const auto* pg = static_cast<const unsigned char*>(g.data_ptr());
  const auto* pc = static_cast<const unsigned char*>(c.data_ptr());
  std::vector<double> vg, vc;
  int64_t mismatches = 0;
  for (int64_t i = 0; i < c.numel(); ++i) {
    if (std::memcmp(pg + size_t(i) * es, pc + size_t(i) * es, es) == 0) continue;
    if (mismatches++ < 5) {
      if (vg.empty()) vg = g.to_vector(), vc = c.to_vector();
      ADD_FAILURE() << what << ": element " << i << " is " << vg[size_t(i)] << " on CUDA, "
                    << vc[size_t(i)] << " on the CPU";
    }
  }
  EXPECT_EQ(mismatches, 0) << what << ": " << mismatches << " of " << c.numel()
                           << " elements differ";
}

void expect_near(const Tensor& gpu, const Tensor& cpu, double tol, const std::string& what) {
  ASSERT_TRUE(gpu.device().is_cuda()) << what;
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << what;
  expect_close(gpu.cpu().to(DType::Float64), cpu.to(DType::Float64), tol, tol, what);
}

Tensor gpu(const Tensor& t) { return t.to(kGpu); }

// Seed, then move the generator to `offset` (in Philox counters), as after earlier draws.
void seed_at(uint64_t seed, uint64_t offset) {
  manual_seed(seed);
  Generator::default_generator().set_offset(offset);
}

struct Draw {
  uint64_t seed, offset;
};
const Draw kDraws[] = {{0, 0}, {17, 3}, {123456789, (uint64_t(1) << 32) + 5}};
// Sizes that are not multiples of the 4 (or 2) elements of one Philox block.
const Shape kShapes[] = {{1003}, {37, 29}, {1}};

std::string tag(const char* op, DType t, const Draw& d, const Shape& s) {
  return detail::concat(op, " ", dtype_name(t), " seed ", d.seed, " offset ", d.offset, " shape ",
                        shape_str(s));
}

// Draws with `f` on the CPU and on CUDA from the same generator state; both must also advance
// the generator by the same number of counters.
template <class F>
void compare_draw(const char* op, DType t, F&& f, bool exact = true, double tol = 0) {
  for (const Draw& d : kDraws) {
    for (const Shape& s : kShapes) {
      seed_at(d.seed, d.offset);
      Tensor c = f(s, TensorOptions(t, Device::cpu()));
      const uint64_t after_cpu = Generator::default_generator().offset();
      seed_at(d.seed, d.offset);
      Tensor g = f(s, TensorOptions(t, kGpu));
      EXPECT_EQ(Generator::default_generator().offset(), after_cpu) << tag(op, t, d, s);
      if (exact)
        expect_bitwise(g, c, tag(op, t, d, s));
      else
        expect_near(g, c, tol, tag(op, t, d, s));
    }
  }
}

TEST(CudaRandom, RandMatchesCpuBitForBit) {
  SKIP_WITHOUT_GPU();
  for (DType t : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16})
    compare_draw("rand", t, [](const Shape& s, TensorOptions o) { return rand(s, o); });
}

TEST(CudaRandom, RandnMatchesCpu) {
  SKIP_WITHOUT_GPU();
  // float32/16/bf16: the double Box-Muller value rounds to the same element; the last bits of a
  // float64 value depend on the device's log/cos (1-2 ulp), hence a relative 1e-14 there.
  for (DType t : {DType::Float32, DType::Float16, DType::BFloat16})
    compare_draw("randn", t, [](const Shape& s, TensorOptions o) { return randn(s, o); });
  compare_draw(
      "randn", DType::Float64, [](const Shape& s, TensorOptions o) { return randn(s, o); }, false,
      1e-14);
}

TEST(CudaRandom, RandintMatchesCpuBitForBit) {
  SKIP_WITHOUT_GPU();
  for (DType t : {DType::Int64, DType::Int32, DType::Float32, DType::Float16})
    compare_draw("randint", t,
                 [](const Shape& s, TensorOptions o) { return randint(-5, 17, s, o); });
  compare_draw("randint", DType::UInt8,
               [](const Shape& s, TensorOptions o) { return randint(0, 200, s, o); });
  // A range wider than 32 bits uses all 64 bits of the draw.
  const int64_t big = int64_t(1) << 40;
  compare_draw("randint", DType::Int64,
               [big](const Shape& s, TensorOptions o) { return randint(-big, big, s, o); });
}

TEST(CudaRandom, BernoulliMatchesCpuBitForBit) {
  SKIP_WITHOUT_GPU();
  for (DType t : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16}) {
    compare_draw("bernoulli", t, [](const Shape& s, TensorOptions o) {
      // Probabilities from their own draw (on the CPU, so both sides get the same ones), with
      // an exact 0 and 1 among them.
      Tensor pr = rand(s, TensorOptions(DType::Float64));
      if (pr.numel() > 2) {
        pr.data<double>()[0] = 0.0;
        pr.data<double>()[1] = 1.0;
      }
      return bernoulli(pr.to(o.dtype).to(o.device));
    });
  }
}

TEST(CudaRandom, DropoutMaskMatchesCpu) {
  SKIP_WITHOUT_GPU();
  manual_seed(1);
  Tensor x = randn({64, 33});  // 2112 elements: 528 Philox blocks
  for (DType t : {DType::Float32, DType::BFloat16, DType::Float64}) {
    for (uint64_t seed : {uint64_t(0), uint64_t(42), uint64_t(987654321)}) {
      for (double p : {0.1, 0.5, 0.9}) {
        const std::string what =
            detail::concat("dropout ", dtype_name(t), " seed ", seed, " p ", p);
        Tensor xc = x.to(t);
        manual_seed(seed);
        Tensor yc = dropout(xc, p, true);
        manual_seed(seed);
        Tensor yg = dropout(gpu(xc), p, true);
        ASSERT_TRUE(yg.device().is_cuda()) << what;
        Tensor zero = zeros({}, TensorOptions(t));
        // x has no zeros, so the nonzero pattern is the mask.
        expect_bitwise(ne(yg, gpu(zero)), ne(yc, zero), what + " mask");
        expect_near(yg, yc, t == DType::BFloat16 ? 1e-2 : 1e-6, what + " values");
      }
    }
  }
}

// ---------------- indexing ----------------

Tensor idx(std::vector<int64_t> v) { return tensor(v); }

// Values of dtype t: small integers, so sums are exact in every dtype and any order.
Tensor small_ints(const Shape& s, DType t, int64_t lo = -8, int64_t hi = 9) {
  return randint(lo, hi, s).to(t);
}

// Random values of dtype t (integers for integer types, bool as a coin flip).
Tensor values(const Shape& s, DType t) {
  if (t == DType::Bool) return randint(0, 2, s).to(DType::Bool);
  if (t == DType::UInt8) return randint(0, 256, s).to(t);
  if (!is_floating(t)) return randint(-1000, 1000, s).to(t);
  return randn(s).to(t);
}

const DType kAllTypes[] = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16,
                           DType::Int64,   DType::Int32,   DType::UInt8,    DType::Bool};

TEST(CudaIndex, IndexSelectMatchesCpu) {
  SKIP_WITHOUT_GPU();
  manual_seed(3);
  Tensor index = idx({4, 0, 2, 2, 1, 4, 0});  // repeats
  for (DType t : kAllTypes) {
    Tensor base = values({5, 6, 5}, t);
    Tensor x = transpose(base, 0, 2);  // non-contiguous [5, 6, 5]
    for (int64_t dim : {0, 1, 2, -1}) {
      const std::string what = detail::concat("index_select ", dtype_name(t), " dim ", dim);
      Tensor i = dim == 1 ? idx({5, 0, 3, 3}) : index;
      expect_bitwise(index_select(transpose(gpu(base), 0, 2), dim, gpu(i)), index_select(x, dim, i),
                     what);
    }
    // An empty index and a 0-d index.
    expect_bitwise(index_select(gpu(base), 1, gpu(idx({}))), index_select(base, 1, idx({})),
                   detail::concat("index_select empty ", dtype_name(t)));
    Tensor i0 = reshape(idx({3}), {});
    expect_bitwise(index_select(gpu(base), 2, gpu(i0)), index_select(base, 2, i0),
                   detail::concat("index_select 0-d index ", dtype_name(t)));
  }
}

TEST(CudaIndex, IndexAddAccumulatesRepeatedIndices) {
  SKIP_WITHOUT_GPU();
  manual_seed(4);
  Tensor index = idx({2, 0, 2, 2, 1, 0, 2});  // 2 four times, 0 twice
  for (DType t : kAllTypes) {
    // Integer-valued data: every dtype sums exactly, in any order of the atomics.
    const bool is_bool = t == DType::Bool;
    Tensor x = is_bool ? values({3, 4, 5}, t) : small_ints({3, 4, 5}, t, 0, 9);
    Scalar alpha = is_floating(t) ? Scalar(2.0) : Scalar(2);
    for (int64_t dim : {0, 1, 2}) {
      const std::string what = detail::concat("index_add ", dtype_name(t), " dim ", dim);
      Shape ss = x.shape();
      ss[size_t(dim)] = index.numel();
      // A non-contiguous source: the transpose of a contiguous [.., ..] tensor.
      Shape st = ss;
      std::swap(st[0], st[2]);
      Tensor sbase = is_bool ? values(st, t) : small_ints(st, t, 0, 9);
      Tensor src = transpose(sbase, 0, 2);
      Tensor want = index_add(x, dim, index, src, alpha);
      Tensor got = index_add(gpu(x), dim, gpu(index), transpose(gpu(sbase), 0, 2), alpha);
      expect_bitwise(got, want, what);
    }
  }
}

TEST(CudaIndex, IndexAddRoundsLikeTheCpu) {
  SKIP_WITHOUT_GPU();
  manual_seed(5);
  // Distinct indices: one addition per element, which must round exactly as on the CPU (for
  // float16/bfloat16: float(out) + float(alpha) * float(src), rounded once).
  Tensor index = idx({3, 0, 4, 1});
  for (DType t : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16}) {
    Tensor x = values({5, 7}, t), src = values({4, 7}, t);
    for (double alpha : {1.0, -0.37}) {
      expect_bitwise(index_add(gpu(x), 0, gpu(index), gpu(src), alpha),
                     index_add(x, 0, index, src, alpha),
                     detail::concat("index_add ", dtype_name(t), " alpha ", alpha));
    }
  }
  // Random values with many repeats: equal up to the order of the float additions.
  Tensor many = randint(0, 3, {2000});
  for (DType t : {DType::Float32, DType::Float64}) {
    Tensor x = values({3, 16}, t), src = values({2000, 16}, t);
    expect_near(index_add(gpu(x), 0, gpu(many), gpu(src), 0.5), index_add(x, 0, many, src, 0.5),
                1e-3, detail::concat("index_add many repeats ", dtype_name(t)));
  }
  // Heavy contention on few targets for the 16-bit compare-and-swap loop: 0/1 values keep every
  // partial sum an exact integer below 256, so no update may be lost and the result is exact.
  Tensor targets = randint(0, 16, {2000});
  for (DType t : {DType::BFloat16, DType::Float16}) {
    Tensor x = zeros({16, 8}, TensorOptions(t)), src = small_ints({2000, 8}, t, 0, 2);
    expect_bitwise(index_add(gpu(x), 0, gpu(targets), gpu(src)), index_add(x, 0, targets, src),
                   detail::concat("index_add contention ", dtype_name(t)));
  }
}

TEST(CudaIndex, GatherMatchesCpu) {
  SKIP_WITHOUT_GPU();
  manual_seed(6);
  for (DType t : kAllTypes) {
    Tensor base = values({6, 4, 5}, t);
    Tensor x = transpose(base, 0, 1);  // [4, 6, 5], non-contiguous
    for (int64_t dim : {0, 1, 2}) {
      // Longer than x along dim and shorter elsewhere: both allowed.
      Shape is2 = {3, 5, 4};
      is2[size_t(dim)] = 7;
      Tensor ix = randint(0, x.size(dim), is2);
      expect_bitwise(gather(transpose(gpu(base), 0, 1), dim, gpu(ix)), gather(x, dim, ix),
                     detail::concat("gather ", dtype_name(t), " dim ", dim));
    }
  }
}

TEST(CudaIndex, ScatterKeepsTheCpusLastWrite) {
  SKIP_WITHOUT_GPU();
  manual_seed(7);
  for (DType t : kAllTypes) {
    Tensor x = values({4, 5}, t);
    // Repeated targets within every column (dim 0) and every row (dim 1).
    Tensor i0 = idx({0, 1, 3, 0, 0, 3, 0, 0, 1, 3, 0, 0, 1, 1, 0}).reshape({3, 5});
    Tensor i1 = idx({0, 4, 0, 4, 2, 0, 0, 1}).reshape({2, 4});
    Tensor src = values({6, 7}, t);  // larger than the index: only a corner is read
    expect_bitwise(scatter(gpu(x), 0, gpu(i0), gpu(src)), scatter(x, 0, i0, src),
                   detail::concat("scatter ", dtype_name(t), " dim 0"));
    expect_bitwise(scatter(gpu(x), 1, gpu(i1), gpu(src)), scatter(x, 1, i1, src),
                   detail::concat("scatter ", dtype_name(t), " dim 1"));
    // Non-contiguous source.
    Tensor sbase = values({7, 6}, t);
    expect_bitwise(scatter(gpu(x), 1, gpu(i1), transpose(gpu(sbase), 0, 1)),
                   scatter(x, 1, i1, transpose(sbase, 0, 1)),
                   detail::concat("scatter strided ", dtype_name(t)));
    // One index per row along dim: the single-pass path.
    Tensor i2 = idx({3, 0, 4, 4}).reshape({4, 1});
    expect_bitwise(scatter(gpu(x), 1, gpu(i2), gpu(src)), scatter(x, 1, i2, src),
                   detail::concat("scatter single ", dtype_name(t)));
  }
  // Many writers per target: the CPU keeps the last one in index order.
  Tensor out = zeros({50});
  Tensor index = randint(0, 50, {5000});
  Tensor src = arange(0, 5000, 1, TensorOptions(DType::Float32));
  expect_bitwise(scatter(gpu(out), 0, gpu(index), gpu(src)), scatter(out, 0, index, src),
                 "scatter 5000 writers into 50");
  // The value form.
  Tensor x = values({4, 5}, DType::Float32);
  Tensor i0 = idx({0, 1, 3, 0, 0, 3, 0, 0, 1, 3}).reshape({2, 5});
  expect_bitwise(scatter(gpu(x), 0, gpu(i0), Scalar(-2.5)), scatter(x, 0, i0, Scalar(-2.5)),
                 "scatter value");
}

TEST(CudaIndex, ScatterAddAccumulatesRepeatedIndices) {
  SKIP_WITHOUT_GPU();
  manual_seed(8);
  Tensor i0 = idx({0, 1, 3, 0, 0, 3, 0, 0, 1, 3, 0, 0, 1, 1, 0}).reshape({3, 5});
  Tensor i1 = idx({0, 4, 0, 4, 2, 0, 0, 1}).reshape({2, 4});
  for (DType t : kAllTypes) {
    const bool is_bool = t == DType::Bool;
    Tensor x = is_bool ? values({4, 5}, t) : small_ints({4, 5}, t, 0, 9);
    Tensor src = is_bool ? values({6, 7}, t) : small_ints({6, 7}, t, 0, 9);
    expect_bitwise(scatter_add(gpu(x), 0, gpu(i0), gpu(src)), scatter_add(x, 0, i0, src),
                   detail::concat("scatter_add ", dtype_name(t), " dim 0"));
    Tensor srct = transpose(src, 0, 1);  // [7, 6], non-contiguous
    expect_bitwise(scatter_add(gpu(x), 1, gpu(i1), transpose(gpu(src), 0, 1)),
                   scatter_add(x, 1, i1, srct),
                   detail::concat("scatter_add ", dtype_name(t), " dim 1 strided"));
  }
  // Random float values, many repeats.
  Tensor out = zeros({8, 3});
  Tensor index = randint(0, 8, {3000, 3});
  Tensor src = randn({3000, 3});
  expect_near(scatter_add(gpu(out), 0, gpu(index), gpu(src)), scatter_add(out, 0, index, src), 1e-4,
              "scatter_add float32 many repeats");
}

// embedding = index_select on the table; its backward = index_add (atomics on repeats).
TEST(CudaIndex, EmbeddingForwardAndBackwardMatchCpu) {
  SKIP_WITHOUT_GPU();
  manual_seed(9);
  for (DType t : {DType::Float32, DType::Float64, DType::BFloat16}) {
    Tensor w = randn({10, 6}).to(t);
    Tensor weights = randn({2, 4, 6}).to(t);
    for (DType it : {DType::Int64, DType::Int32}) {
      Tensor indices = idx({1, 2, 1, 9, 9, 1, 0, 1}).reshape({2, 4}).to(it);
      const std::string what = detail::concat("embedding ", dtype_name(t), " ", dtype_name(it));
      Tensor wc = w.clone().requires_grad_(true);
      Tensor yc = embedding(wc, indices);
      sum(yc * weights).backward();
      Tensor wg = gpu(w).detach().requires_grad_(true);
      Tensor yg = embedding(wg, gpu(indices));
      sum(yg * gpu(weights)).backward();
      expect_bitwise(yg.detach(), yc.detach(), what + " forward");
      ASSERT_TRUE(wg.grad().defined()) << what;
      // Row 1 sums four gradients: equal up to the order of the additions.
      expect_near(wg.grad(), wc.grad(), t == DType::BFloat16 ? 3e-2 : 1e-5, what + " backward");
    }
  }
}

TEST(CudaIndex, GatherBackwardIsScatterAdd) {
  SKIP_WITHOUT_GPU();
  manual_seed(10);
  Tensor x = randn({5, 6}, TensorOptions(DType::Float64));
  Tensor index = randint(0, 6, {5, 9});  // repeats along dim 1
  Tensor w = randn({5, 9}, TensorOptions(DType::Float64));
  Tensor xc = x.clone().requires_grad_(true);
  sum(gather(xc, 1, index) * w).backward();
  Tensor xg = gpu(x).detach().requires_grad_(true);
  sum(gather(xg, 1, gpu(index)) * gpu(w)).backward();
  expect_near(xg.grad(), xc.grad(), 1e-12, "gather backward");
}

}  // namespace
}  // namespace kiln::testing
