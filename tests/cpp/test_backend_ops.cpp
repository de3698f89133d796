// The backend-ops comparison. On the CPU: each row of the op table in float32, bfloat16 and
// float16 against the same row in float64 (forward, and backward of a fixed weighted sum).
// On CUDA: each row on the GPU against the CPU, same inputs; skipped when there is no GPU.
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

TEST_P(BackendOps, LowPrecisionMatchesFloat64OnCpu) {
  const OpCase& c = op_table()[GetParam()];
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

TEST_P(BackendOps, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: CPU-vs-CUDA comparison skipped";
  const OpCase& c = op_table()[GetParam()];
  for (auto [dtype, tol] : {std::pair{DType::Float64, 1e-10},
                            {DType::Float32, c.tol_f32},
                            {DType::BFloat16, c.tol_bf16}}) {
    RunResult want = run(c, make_inputs(c, dtype, Device::cpu(), 11));
    RunResult got = run(c, make_inputs(c, dtype, Device::cuda(0), 11));
    compare(c, got, want, tol, std::string("cuda ") + dtype_name(dtype));
  }
}

INSTANTIATE_TEST_SUITE_P(OpTable, BackendOps, ::testing::Range<size_t>(0, op_table().size()),
                         op_row_name);

}  // namespace
}  // namespace kiln::testing
