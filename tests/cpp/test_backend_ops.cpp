// The backend-ops comparison. On the CPU: each row of the op table in float32, bfloat16 and
// float16 against the same row in float64 (forward, and backward of a fixed weighted sum).
// On CUDA: each row on the GPU against the CPU, same inputs, contiguous and strided; skipped
// when there is no GPU.
//
// A second, local table (large_table below) holds rows with shapes large enough to reach the
// CUDA kernels' other paths (multi-warp and multi-block reductions, long softmax rows, vector
// loads with tails and misaligned starts, atomics with many collisions). It is not part of
// op_table(), whose rows are also gradchecked in float64 by finite differences, which these
// sizes would make slow; its rows run here only, on the CPU in low precision and on CUDA.
#include <cctype>

#include "op_table.h"
#include "test_util.h"

namespace kiln::testing {
namespace {

struct RunResult {
  std::vector<Tensor> outputs;
  std::vector<Tensor> grads;
};

// Forward, then backward of sum(out_i * w_i) with fixed weights w_i.
RunResult run(const OpCase& c, std::vector<Tensor> inputs) {
  bool grad = c.differentiable;
  for (Tensor& x : inputs)
    if (grad && is_floating(x.dtype())) x.requires_grad_(true);
  RunResult r;
  r.outputs = c.fn(inputs);
  if (!grad) return r;
  Tensor loss;
  manual_seed(99);
  for (const Tensor& y : r.outputs) {
    if (!y.requires_grad()) continue;
    Tensor w = randn(y.shape(), TensorOptions(DType::Float64)).to(y.dtype()).to(y.device());
    Tensor term = sum(y * w).to(DType::Float64);
    loss = loss.defined() ? loss + term : term;
  }
  if (loss.defined()) loss.backward();
  for (const Tensor& x : inputs) r.grads.push_back(x.grad());
  return r;
}

void compare(const OpCase& c, const RunResult& got, const RunResult& want, double tol,
             const std::string& what) {
  ASSERT_EQ(got.outputs.size(), want.outputs.size());
  for (size_t i = 0; i < got.outputs.size(); ++i) {
    Tensor g = got.outputs[i].cpu(), w = want.outputs[i].cpu();
    if (is_floating(w.dtype())) {
      expect_close(g.to(DType::Float64), w.to(DType::Float64), tol, tol,
                   c.name + " " + what + " output " + std::to_string(i));
    } else {
      EXPECT_TRUE(equal(g.to(DType::Int64), w.to(DType::Int64)))
          << c.name << " " << what << " output " << i;
    }
  }
  for (size_t i = 0; i < got.grads.size() && i < want.grads.size(); ++i) {
    if (!want.grads[i].defined()) continue;
    ASSERT_TRUE(got.grads[i].defined()) << c.name << " " << what << " grad " << i;
    expect_close(got.grads[i].cpu().to(DType::Float64), want.grads[i].to(DType::Float64), tol, tol,
                 c.name + " " + what + " grad " + std::to_string(i));
  }
}

class BackendOps : public ::testing::TestWithParam<size_t> {};

void expect_low_precision_matches_float64(const OpCase& c) {
  for (auto [dtype, tol] : {std::pair{DType::Float32, c.tol_f32},
                            {DType::BFloat16, c.tol_bf16},
                            {DType::Float16, c.tol_f16}}) {
    // The oracle sees the same (rounded) input values as the low-precision run.
    RunResult want = run(c, [&] {
      auto in = make_inputs(c, dtype, Device::cpu(), 11);
      for (Tensor& x : in) x = x.to(DType::Float64);
      return in;
    }());
    RunResult got = run(c, make_inputs(c, dtype, Device::cpu(), 11, /*non_contiguous=*/true));
    compare(c, got, want, tol, dtype_name(dtype));
  }
}

TEST_P(BackendOps, LowPrecisionMatchesFloat64OnCpu) {
  expect_low_precision_matches_float64(op_table()[GetParam()]);
}

// The same inputs on both devices, once contiguous and once as strided views (the CUDA
// kernels' general-stride paths; the contiguous run takes their vectorised fast paths).
void expect_cuda_matches_cpu(const OpCase& c) {
  // float32 means float32 here: cuDNN's TF32 (on by default, as torch's) would round the
  // convolutions' inputs to 10 mantissa bits.
  struct NoCudnnTf32 {
    bool saved = cuda::cudnn_allow_tf32();
    NoCudnnTf32() { cuda::set_cudnn_allow_tf32(false); }
    ~NoCudnnTf32() { cuda::set_cudnn_allow_tf32(saved); }
  } no_tf32;
  for (bool non_contiguous : {false, true}) {
    for (auto [dtype, tol] : {std::pair{DType::Float64, 1e-10},
                              {DType::Float32, c.tol_f32},
                              {DType::BFloat16, c.tol_bf16}}) {
      RunResult want = run(c, make_inputs(c, dtype, Device::cpu(), 11, non_contiguous));
      RunResult got = run(c, make_inputs(c, dtype, Device::cuda(0), 11, non_contiguous));
      compare(c, got, want, tol,
              std::string("cuda ") + dtype_name(dtype) + (non_contiguous ? " strided" : ""));
    }
  }
}

TEST_P(BackendOps, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: CPU-vs-CUDA comparison skipped";
  expect_cuda_matches_cpu(op_table()[GetParam()]);
}

INSTANTIATE_TEST_SUITE_P(OpTable, BackendOps, ::testing::Range<size_t>(0, op_table().size()),
                         op_row_name);

// ---- large_table: shapes that reach the CUDA kernels' other paths (see the top of the file) ----

using Ts = std::vector<Tensor>;

// int64 values (i * step) % mod, i = 0, 1, ..., on `like`'s device: indices with many repeats.
Tensor pattern(const Tensor& like, int64_t step, int64_t mod, const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = (i * step) % mod;
  return tensor(v, shape).to(like.device());
}

std::vector<OpCase> build_large_table() {
  std::vector<OpCase> t;
  // Tolerances as in op_table(), and where a row needs more, why.
  auto row = [&](OpCase c, double tol_bf16 = 3e-2, double tol_f16 = 5e-3, double tol_f32 = 1e-5) {
    c.tol_f32 = tol_f32;
    c.tol_bf16 = tol_bf16;
    c.tol_f16 = tol_f16;
    t.push_back(std::move(c));
  };
  // Reductions: rows longer than a block, a reduction over the outer (strided) dim, several
  // dims at once, and one over all 264,967 elements (several blocks, then a second pass).
  // float32 sums of ~1000 standard normal terms cancel down to results near zero, and a CUDA
  // kernel that accumulates in float32 (the CPU uses double) is off by ~2e-5 there: 1e-4.
  row({"sum/rows_1031", OpId::Sum, {{37, 1031}}, [](const Ts& x) { return Ts{sum(x[0], {1})}; }},
      3e-2, 5e-3, 1e-4);
  row({"sum/dim0_1031", OpId::Sum, {{1031, 37}}, [](const Ts& x) { return Ts{sum(x[0], {0})}; }},
      3e-2, 5e-3, 1e-4);
  row({"sum/dims_0_2_keepdim",
       OpId::Sum,
       {{17, 129, 33}},
       [](const Ts& x) {
         return Ts{sum(x[0], {0, 2}, true)};
       }},
      3e-2, 5e-3, 1e-4);
  row({"mean/all_264967", OpId::Mean, {{1031, 257}}, [](const Ts& x) { return Ts{mean(x[0])}; }});
  row({"amax/rows_1031", OpId::Amax, {{37, 1031}}, [](const Ts& x) {
         return Ts{amax(x[0], {1})};
       }});
  row({"amin/dim0_1031", OpId::Amin, {{1031, 37}}, [](const Ts& x) {
         return Ts{amin(x[0], {0})};
       }});
  // Values and int64 indices (first occurrence; bfloat16 inputs have ties).
  row({"max/dim_rows_1031", OpId::MaxDim, {{37, 1031}}, [](const Ts& x) {
         auto [values, indices] = max(x[0], 1);
         return Ts{values, indices};
       }});
  row({"argmin/dim0_1031",
       OpId::MinDim,
       {{1031, 37}},
       [](const Ts& x) { return Ts{argmin(x[0], 0)}; },
       {},
       false});
  row({"var/rows_1031", OpId::Var, {{37, 1031}}, [](const Ts& x) { return Ts{var(x[0], {1})}; }});
  row({"std/dim0_1031", OpId::Std, {{1031, 37}}, [](const Ts& x) { return Ts{std(x[0], {0})}; }});
  row({"logsumexp/rows_1031", OpId::Logsumexp, {{37, 1031}}, [](const Ts& x) {
         return Ts{logsumexp(x[0], {1})};
       }});
  row({"norm/rows_1031", OpId::Norm, {{37, 1031}}, [](const Ts& x) {
         return Ts{norm(x[0], 2, {1})};
       }});
  // Softmax: probabilities are ~1/n, so they are scaled by n to keep the tolerances meaningful.
  row({"softmax/rows_1031", OpId::Softmax, {{37, 1031}}, [](const Ts& x) {
         return Ts{softmax(x[0], 1) * 1031.0};
       }});
  row({"log_softmax/rows_4099", OpId::LogSoftmax, {{5, 4099}}, [](const Ts& x) {
         return Ts{log_softmax(x[0], 1)};
       }});
  // float32 rows are summed in float32 on the CPU (acc_t): 70,001 terms round to ~1e-5 relative.
  row({"log_softmax/rows_70001",
       OpId::LogSoftmax,
       {{2, 70001}},
       [](const Ts& x) { return Ts{log_softmax(x[0], -1)}; }},
      3e-2, 5e-3, 2e-4);
  row({"softmax/dim0_1031", OpId::Softmax, {{1031, 37}}, [](const Ts& x) {
         return Ts{softmax(x[0], 0) * 1031.0};
       }});
  // Elementwise: an odd element count (vector body plus tail), starts 4 and 8 bytes past an
  // aligned address (no 128-bit loads there), broadcasting, a transposed operand.
  row({"gelu/264967", OpId::Gelu, {{1031, 257}}, [](const Ts& x) { return Ts{gelu(x[0])}; }});
  row({"add/misaligned", OpId::Add, {{4099}, {4099}}, [](const Ts& x) {
         return Ts{add(x[0].narrow(0, 1, 4097), x[1].narrow(0, 2, 4097))};
       }});
  // The backward of a broadcast sums 257 or 1031 products, each rounded to the low precision
  // (and the upstream weights too, against float64 ones): about sqrt(n) * 2^-9 of their scale;
  // float32 as for the sums above.
  row({"mul/broadcast_large",
       OpId::Mul,
       {{1031, 1}, {257}},
       [](const Ts& x) { return Ts{mul(x[0], x[1])}; }},
      0.25, 3e-2, 1e-4);
  row({"mul/transposed_operand", OpId::Mul, {{257, 1031}, {1031, 257}}, [](const Ts& x) {
         return Ts{mul(x[0], x[1].t())};
       }});
  // The threshold is exact in every dtype (0.2 is not: bfloat16 ties with it would flip).
  row({"where/broadcast_large",
       OpId::Where,
       {{1031, 257}, {257}},
       [](const Ts& x) { return Ts{where(x[0] > 0.25, x[0], x[1])}; }},
      0.25, 3e-2, 1e-4);
  // Matrix products with sizes that are not multiples of any tile, and transposed operands.
  // float32: sums of up to 257 products of magnitude ~1 round to ~1e-5 of their scale.
  row({"matmul/67x129x33",
       OpId::Matmul,
       {{67, 129}, {129, 33}},
       [](const Ts& x) { return Ts{matmul(x[0], x[1])}; }},
      5e-2, 1e-2, 1e-4);
  row({"matmul/transposed_both",
       OpId::Matmul,
       {{65, 33}, {17, 65}},
       [](const Ts& x) { return Ts{matmul(x[0].t(), x[1].t())}; }},
      5e-2, 1e-2, 1e-4);
  row({"bmm/3x33x65x17",
       OpId::Bmm,
       {{3, 33, 65}, {3, 65, 17}},
       [](const Ts& x) { return Ts{bmm(x[0], x[1])}; }},
      5e-2, 1e-2, 1e-4);
  row({"linear/130x257x65",
       OpId::Linear,
       {{130, 257}, {65, 257}, {65}},
       [](const Ts& x) { return Ts{linear(x[0], x[1], x[2])}; }},
      5e-2, 1e-2, 1e-4);
  // Indexing with many repeated indices: the backward (and index_add / scatter_add) accumulate
  // through atomics in an unspecified order, so low precision gets the matmul tolerances.
  row({"index_select/1031_of_67",
       OpId::IndexSelect,
       {{67, 33}},
       [](const Ts& x) { return Ts{index_select(x[0], 0, pattern(x[0], 37, 67, {1031}))}; }},
      5e-2, 1e-2);
  row({"index_add/1031_into_67",
       OpId::IndexAdd,
       {{67, 33}, {1031, 33}},
       [](const Ts& x) {
         return Ts{index_add(x[0], 0, pattern(x[0], 37, 67, {1031}), x[1], 0.5)};
       }},
      5e-2, 1e-2);
  row({"gather/67x200_of_129",
       OpId::Gather,
       {{67, 129}},
       [](const Ts& x) {
         return Ts{gather(x[0], 1, pattern(x[0], 13, 129, {67, 200}))};
       }},
      5e-2, 1e-2);
  row({"scatter_add/collisions",
       OpId::ScatterAdd,
       {{67, 129}, {67, 129}},
       [](const Ts& x) {
         return Ts{scatter_add(x[0], 1, pattern(x[0], 7, 31, {67, 129}), x[1])};
       }},
      5e-2, 1e-2);
  row({"embedding/1023_lookups",
       OpId::Embedding,
       {{67, 33}},
       [](const Ts& x) {
         return Ts{embedding(x[0], pattern(x[0], 37, 67, {31, 33}))};
       }},
      5e-2, 1e-2);
  row({"cat/1031_rows", OpId::Cat, {{1031, 17}, {1031, 3}}, [](const Ts& x) {
         return Ts{cat({x[0], x[1], x[0]}, 1)};
       }});
  // Dropout: the same Philox mask on both devices, over many blocks.
  row({"dropout/264967", OpId::Dropout, {{1031, 257}}, [](const Ts& x) {
         manual_seed(4321);
         return Ts{dropout(x[0], 0.3, true)};
       }});
  return t;
}

const std::vector<OpCase>& large_table() {
  static const std::vector<OpCase> table = build_large_table();
  return table;
}

std::string large_row_name(const ::testing::TestParamInfo<size_t>& info) {
  std::string n = large_table()[info.param].name;
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

class BackendOpsLarge : public ::testing::TestWithParam<size_t> {};

TEST_P(BackendOpsLarge, LowPrecisionMatchesFloat64OnCpu) {
  expect_low_precision_matches_float64(large_table()[GetParam()]);
}

TEST_P(BackendOpsLarge, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: CPU-vs-CUDA comparison skipped";
  expect_cuda_matches_cpu(large_table()[GetParam()]);
}

INSTANTIATE_TEST_SUITE_P(LargeShapes, BackendOpsLarge,
                         ::testing::Range<size_t>(0, large_table().size()), large_row_name);

}  // namespace
}  // namespace kiln::testing
