// The differentiable collectives against the single-process formulas. Rank r's loss is
// sum(w_r * f(x)) with a weight w_r known to every rank, so each rank can compute what every
// gradient must be: for y = all_reduce(x, Sum) on every rank, dL/dx_r = sum_q w_q (the loss is
// the sum of every rank's loss, as in data-parallel training).
#include "test_process_group_util.h"

namespace kiln::testing::dist {
namespace {

using distributed::ReduceOp;

// w_q: rank q's loss weights, [n] elements.
std::vector<double> weights(int q, int64_t n) {
  std::vector<double> w;
  for (int64_t i = 0; i < n; ++i) w.push_back(0.5 * (q + 1) - 0.25 * double(i));
  return w;
}

Tensor weights_t(int q, const Shape& shape) {
  return tensor(weights(q, numel_of(shape)), shape, TensorOptions(DType::Float64)).to(dev());
}

TEST(DistributedFunctional, AllReduceSumAndAvgGradients) {
  const Shape shape = {2, 3};
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Avg}) {
    Tensor x = tensor_of(rank(), shape, DType::Float64).requires_grad_();
    Tensor y = distributed::all_reduce(x, op, group());
    // Forward: the reduction, and x itself untouched.
    std::vector<double> sum(6, 0.0), grad(6, 0.0);
    for (int q = 0; q < world(); ++q) {
      for (int64_t i = 0; i < 6; ++i) {
        sum[size_t(i)] += value(q, i);
        grad[size_t(i)] += weights(q, 6)[size_t(i)];
      }
    }
    if (op == ReduceOp::Avg) {
      for (double& s : sum) s /= world();
      for (double& g : grad) g /= world();
    }
    expect_values(y, shape, sum, 1e-12);
    expect_values(x, shape, values_of(rank(), 6), 0);
    (y * weights_t(rank(), shape)).sum().backward();
    SCOPED_TRACE(distributed::reduce_op_name(op));
    expect_values(x.grad(), shape, grad, 1e-12);
  }
}

TEST(DistributedFunctional, AllReduceMaxHasNoGradient) {
  Tensor x = ones({2}, opt()).requires_grad_();
  EXPECT_THROW_MSG(distributed::all_reduce(x, ReduceOp::Max, group()), ValueError,
                   "all_reduce: ReduceOp.max has no gradient");
  // Without history it is an ordinary reduction (and the ranks' collectives stay matched).
  Tensor m = distributed::all_reduce(full({2}, double(rank()), DType::Float32, dev()),
                                     ReduceOp::Max, group());
  expect_values(m, {2}, {double(world() - 1), double(world() - 1)});
}

TEST(DistributedFunctional, AllGatherUnevenForwardAndGradient) {
  // Rank r contributes [r + 1, 2]; rank q's loss is sum_r sum(w_q[r] * out[r]) with
  // w_q[r] = weights(q + r, ·). Then dL/dx_r = sum_q weights(q + r, ·).
  Tensor x = tensor_of(rank(), {rank() + 1, 2}, DType::Float64).requires_grad_();
  std::vector<Tensor> out = distributed::all_gather(x, group());
  ASSERT_EQ(int(out.size()), world());
  Tensor loss = zeros({}, opt(DType::Float64));
  for (int r = 0; r < world(); ++r) {
    expect_values(out[size_t(r)], {r + 1, 2}, values_of(r, 2 * (r + 1)));
    loss = loss + (out[size_t(r)] * weights_t(rank() + r, {r + 1, 2})).sum();
  }
  loss.backward();
  const int64_t n = 2 * (rank() + 1);
  std::vector<double> expected(size_t(n), 0.0);
  for (int q = 0; q < world(); ++q) {
    for (int64_t i = 0; i < n; ++i) expected[size_t(i)] += weights(q + rank(), n)[size_t(i)];
  }
  expect_values(x.grad(), {rank() + 1, 2}, expected, 1e-12);
}

TEST(DistributedFunctional, AllGatherUnusedOutputsGetZeroGradient) {
  // Every rank uses only its own slot: dL/dx_r = w_r (the other ranks send zeros back).
  Tensor x = tensor_of(rank(), {3}, DType::Float64).requires_grad_();
  std::vector<Tensor> out = distributed::all_gather(x, group());
  (out[size_t(rank())] * weights_t(rank(), {3})).sum().backward();
  expect_values(x.grad(), {3}, weights(rank(), 3), 1e-12);
}

TEST(DistributedFunctional, ReduceScatterGradient) {
  // inputs[q] (on rank r) goes to rank q; rank q's loss is sum(w_q * out_q), so
  // dL/d inputs[q] = w_q (for Avg, w_q / n).
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Avg}) {
    std::vector<Tensor> inputs;
    for (int q = 0; q < world(); ++q) {
      inputs.push_back(full({q + 2}, double(rank() + q), DType::Float64, dev()).requires_grad_());
    }
    Tensor out = distributed::reduce_scatter(inputs, op, group());
    double expected_value = 0;
    for (int r = 0; r < world(); ++r) expected_value += r + rank();
    if (op == ReduceOp::Avg) expected_value /= world();
    expect_values(out, {rank() + 2}, std::vector<double>(size_t(rank() + 2), expected_value));
    (out * weights_t(rank(), {rank() + 2})).sum().backward();
    for (int q = 0; q < world(); ++q) {
      std::vector<double> w = weights(q, q + 2);
      if (op == ReduceOp::Avg) {
        for (double& v : w) v /= world();
      }
      SCOPED_TRACE(std::string(distributed::reduce_op_name(op)) + " inputs[" + std::to_string(q) +
                   "]");
      expect_values(inputs[size_t(q)].grad(), {q + 2}, w, 1e-12);
    }
  }
}

TEST(DistributedFunctional, DoubleBackwardThroughAllReduce) {
  // y = all_reduce(x) (= Y, the same on every rank), L_r = sum(w_r * y * y). Then
  // g = dL/dx_r = all_reduce(2 w_r y) = 2 Y W with W = sum_q w_q; g depends on x through y and
  // through the backward's own all_reduce. Differentiating sum_r sum(g_r) again gives 2 W n.
  Tensor x = tensor_of(rank(), {3}, DType::Float64).requires_grad_();
  Tensor y = distributed::all_reduce(x, ReduceOp::Sum, group());
  Tensor loss = (weights_t(rank(), {3}) * y * y).sum();
  Tensor g = autograd::grad({loss}, {x}, {}, true, true)[0];
  std::vector<double> big_y(3, 0.0), big_w(3, 0.0);
  for (int q = 0; q < world(); ++q) {
    for (int i = 0; i < 3; ++i) {
      big_y[size_t(i)] += value(q, i);
      big_w[size_t(i)] += weights(q, 3)[size_t(i)];
    }
  }
  std::vector<double> expected, expected2;
  for (size_t i = 0; i < 3; ++i) {
    expected.push_back(2 * big_y[i] * big_w[i]);
    expected2.push_back(2 * big_w[i] * world());
  }
  expect_values(g, {3}, expected, 1e-12);
  Tensor gg = autograd::grad({g.sum()}, {x})[0];
  expect_values(gg, {3}, expected2, 1e-12);
}

}  // namespace
}  // namespace kiln::testing::dist
