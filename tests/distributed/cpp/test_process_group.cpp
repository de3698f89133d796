// Every collective of the default group on every rank, against values computed from what each
// rank is known to contribute: every ReduceOp, every dtype, non-contiguous tensors, uneven
// all_gather and reduce_scatter, barrier, asynchronous Work.
#include <algorithm>
#include <chrono>
#include <thread>

#include "test_process_group_util.h"

namespace kiln::testing::dist {
namespace {

using distributed::ReduceOp;

const DType kAllDTypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                            DType::Int64,   DType::Int32,   DType::UInt8};

double reduce_expected(ReduceOp op, int64_t i) {
  double acc = op == ReduceOp::Max ? -1e300 : op == ReduceOp::Min ? 1e300 : 0.0;
  for (int r = 0; r < world(); ++r) {
    const double v = value(r, i);
    acc = op == ReduceOp::Max ? std::max(acc, v) : op == ReduceOp::Min ? std::min(acc, v) : acc + v;
  }
  return op == ReduceOp::Avg ? acc / world() : acc;
}

TEST(ProcessGroup, RankAndSize) {
  EXPECT_TRUE(distributed::is_initialized());
  EXPECT_EQ(distributed::get_rank(), rank());
  EXPECT_EQ(distributed::get_world_size(), world());
  EXPECT_GE(world(), 1);
  EXPECT_LT(rank(), world());
  // The ranks agree on the size and each has its own rank: the ranks sum to n(n-1)/2.
  Tensor r = tensor(std::vector<int64_t>{rank(), world()}, {2}).to(dev());
  group().all_reduce(r, ReduceOp::Sum)->wait();
  EXPECT_EQ(r.to_vector()[0], world() * (world() - 1) / 2);
  EXPECT_EQ(r.to_vector()[1], world() * world());
}

TEST(ProcessGroup, AllReduceEveryOpAndDType) {
  const Shape shape = {3, 5};
  for (DType dtype : kAllDTypes) {
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min}) {
      if (op == ReduceOp::Avg && !is_floating(dtype)) continue;
      Tensor t = tensor_of(rank(), shape, dtype);
      group().all_reduce(t, op)->wait();
      std::vector<double> expected;
      for (int64_t i = 0; i < 15; ++i) expected.push_back(reduce_expected(op, i));
      if (dtype == DType::UInt8) {
        for (double& e : expected) e = double(int64_t(e) % 256);
      }
      // Avg of small integers: within half-precision rounding of the exact mean.
      const double tol = dtype == DType::BFloat16 ? 0.07 : dtype == DType::Float16 ? 0.01 : 1e-6;
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + distributed::reduce_op_name(op));
      EXPECT_EQ(t.dtype(), dtype);
      expect_values(t, shape, expected, tol, tol);
    }
  }
}

TEST(ProcessGroup, AllReduceBoolIsLogical) {
  // Rank r's element i is true when bit i of (r + 1) is set.
  Tensor t = empty({3}, opt(DType::Bool));
  auto bits = [](int r) {
    std::vector<double> v;
    for (int i = 0; i < 3; ++i) v.push_back(((r + 1) >> i) & 1);
    return v;
  };
  std::vector<double> any(3, 0), all(3, 1);
  for (int r = 0; r < world(); ++r) {
    for (int i = 0; i < 3; ++i) {
      any[size_t(i)] = std::max(any[size_t(i)], bits(r)[size_t(i)]);
      all[size_t(i)] = std::min(all[size_t(i)], bits(r)[size_t(i)]);
    }
  }
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min}) {
    Tensor b = tensor(bits(rank()), {3}).to(dev(), DType::Bool);
    group().all_reduce(b, op)->wait();
    expect_values(b, {3}, op == ReduceOp::Min ? all : any);
  }
}

TEST(ProcessGroup, AllReduceNonContiguousWritesOnlyTheView) {
  // A transposed view and a strided slice: results land in the view, the rest is untouched.
  Tensor base = full({4, 6}, -1.0, DType::Float32, dev());
  Tensor view = base.slice(1, 0, 6, 2).t();  // [3, 4], strides (2, 6)
  view.copy_(tensor_of(rank(), {3, 4}, DType::Float32));
  group().all_reduce(view, ReduceOp::Sum)->wait();
  std::vector<double> expected;
  for (int64_t i = 0; i < 12; ++i) expected.push_back(reduce_expected(ReduceOp::Sum, i));
  expect_values(view, {3, 4}, expected);
  expect_values(base.slice(1, 1, 6, 2), {4, 3}, std::vector<double>(12, -1.0));
}

TEST(ProcessGroup, AllReduceEmptyAndZeroDim) {
  Tensor empty_t = empty({0, 3}, opt(DType::Float32));
  group().all_reduce(empty_t)->wait();
  EXPECT_EQ(empty_t.numel(), 0);
  Tensor scalar = scalar_tensor(rank() + 1.0, DType::Float64, dev());
  group().all_reduce(scalar, ReduceOp::Max)->wait();
  EXPECT_EQ(scalar.item(), world());
}

TEST(ProcessGroup, BroadcastFromEveryRoot) {
  for (int root = 0; root < world(); ++root) {
    for (DType dtype : {DType::Float32, DType::BFloat16, DType::Int64, DType::UInt8}) {
      Tensor t = tensor_of(rank(), {2, 3}, dtype);
      group().broadcast(t, root)->wait();
      SCOPED_TRACE("root " + std::to_string(root) + " " + dtype_name(dtype));
      expect_values(t, {2, 3}, values_of(root, 6));
    }
    Tensor flags =
        tensor(std::vector<double>{double(rank() == root), 1}, {2}).to(dev(), DType::Bool);
    group().broadcast(flags, root)->wait();
    expect_values(flags, {2}, {1, 1});
  }
}

TEST(ProcessGroup, BroadcastNonContiguous) {
  Tensor base = full({3, 4}, -2.0, DType::Float64, dev());
  Tensor view = base.t();  // [4, 3]
  if (rank() == 0) view.copy_(tensor_of(0, {4, 3}, DType::Float64));
  group().broadcast(view, 0)->wait();
  expect_values(view, {4, 3}, values_of(0, 12));
}

TEST(ProcessGroup, AllGatherUnevenShapes) {
  // Rank r contributes [r + 1, 2]: the outputs differ in dim 0 between ranks.
  for (DType dtype : {DType::Float32, DType::Float16, DType::Int32, DType::Bool}) {
    Tensor input = tensor_of(rank(), {rank() + 1, 2}, dtype);
    if (dtype == DType::Bool) input = tensor_of(rank(), {rank() + 1, 2}, DType::Int64) > 4;
    std::vector<Tensor> outputs;
    for (int r = 0; r < world(); ++r) outputs.push_back(empty({r + 1, 2}, opt(dtype)));
    group().all_gather(outputs, input)->wait();
    for (int r = 0; r < world(); ++r) {
      std::vector<double> expected = values_of(r, 2 * (r + 1));
      if (dtype == DType::Bool) {
        for (double& e : expected) e = e > 4;
      }
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " from rank " + std::to_string(r));
      expect_values(outputs[size_t(r)], {r + 1, 2}, expected);
    }
  }
}

TEST(ProcessGroup, AllGatherDifferentRanksOfDims) {
  // "sizes may differ between ranks in every dim": rank r sends a [r + 1] vector, 1-D, and a
  // [2, r + 2] matrix in another call; into non-contiguous outputs.
  Tensor input = tensor_of(rank(), {2, rank() + 2}, DType::Float64);
  std::vector<Tensor> outputs;
  std::vector<Tensor> bases;
  for (int r = 0; r < world(); ++r) {
    bases.push_back(full({r + 2, 2}, -1.0, DType::Float64, dev()));
    outputs.push_back(bases.back().t());  // [2, r + 2], transposed
  }
  group().all_gather(outputs, input.t().contiguous().t())->wait();  // a transposed input too
  for (int r = 0; r < world(); ++r) {
    expect_values(outputs[size_t(r)], {2, r + 2}, values_of(r, 2 * (r + 2)));
  }
}

TEST(ProcessGroup, ReduceScatterEvenAndUneven) {
  // inputs[q] on rank r holds value(r, ·) offset by 10 q; rank q receives the reduction of the
  // inputs[q] of every rank. Uneven: inputs[q] has q + 1 elements.
  for (bool uneven : {false, true}) {
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min}) {
      for (DType dtype : {DType::Float32, DType::BFloat16, DType::Int64}) {
        if (op == ReduceOp::Avg && !is_floating(dtype)) continue;
        auto count = [&](int q) { return uneven ? int64_t(q + 1) : int64_t(3); };
        auto contribution = [&](int r, int q, int64_t i) { return value(r, i) + 10.0 * q; };
        std::vector<Tensor> inputs;
        for (int q = 0; q < world(); ++q) {
          std::vector<double> v;
          for (int64_t i = 0; i < count(q); ++i) v.push_back(contribution(rank(), q, i));
          inputs.push_back(tensor(v, {count(q)}, TensorOptions(DType::Float64)).to(dev(), dtype));
        }
        Tensor output = empty({count(rank())}, opt(dtype));
        group().reduce_scatter(output, inputs, op)->wait();
        std::vector<double> expected;
        for (int64_t i = 0; i < count(rank()); ++i) {
          double acc = op == ReduceOp::Max ? -1e300 : op == ReduceOp::Min ? 1e300 : 0.0;
          for (int r = 0; r < world(); ++r) {
            const double v = contribution(r, rank(), i);
            acc = op == ReduceOp::Max   ? std::max(acc, v)
                  : op == ReduceOp::Min ? std::min(acc, v)
                                        : acc + v;
          }
          expected.push_back(op == ReduceOp::Avg ? acc / world() : acc);
        }
        SCOPED_TRACE(std::string(uneven ? "uneven " : "even ") + dtype_name(dtype) + " " +
                     distributed::reduce_op_name(op));
        const double tol = dtype == DType::BFloat16 ? 0.26 : 1e-6;  // bf16 near 60: steps of 0.25
        expect_values(output, {count(rank())}, expected, tol, 0);
      }
    }
  }
}

TEST(ProcessGroup, BarrierWaitsForEveryRank) {
  group().barrier()->wait();
  // The last rank arrives 200 ms late; nobody leaves the barrier before it arrives.
  const auto start = std::chrono::steady_clock::now();
  if (rank() == world() - 1) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  group().barrier()->wait();
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.15) << "rank " << rank() << " left the barrier early";
}

TEST(ProcessGroup, WorkIsAsynchronous) {
  if (world() < 2) GTEST_SKIP() << "needs 2 ranks";
  group().barrier()->wait();
  // The last rank joins 300 ms late: the others' Work cannot have completed when it returns.
  if (rank() == world() - 1) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Tensor t = full({1024}, 1.0, DType::Float32, dev());
  distributed::WorkPtr work = group().all_reduce(t);
  if (rank() != world() - 1) {
    EXPECT_FALSE(work->is_completed());
  }
  work->wait();
  EXPECT_EQ(t.to_vector()[1023], world());  // on a GPU this also waits for the compute stream
  EXPECT_TRUE(work->is_completed());
}

TEST(ProcessGroup, QueuedCollectivesRunInIssueOrder) {
  // Several collectives in flight on the same and on different tensors, waited for at the end:
  // each sees the result of those issued before it.
  Tensor a = full({256}, 1.0, DType::Float64, dev());
  Tensor b = full({3}, double(rank()), DType::Float64, dev());
  std::vector<distributed::WorkPtr> works;
  works.push_back(group().all_reduce(a));                      // n
  works.push_back(group().all_reduce(a));                      // n * n
  works.push_back(group().broadcast(b, world() - 1));          // n - 1
  works.push_back(group().all_reduce(b, ReduceOp::Max));       // n - 1
  works.push_back(group().all_reduce(a.slice(0, 0, 256, 2)));  // n^3 at even indices
  for (auto& w : works) w->wait();
  const double n = world();
  EXPECT_EQ(a.to_vector()[0], n * n * n);
  EXPECT_EQ(a.to_vector()[1], n * n);
  expect_values(b, {3}, std::vector<double>(3, n - 1));
}

TEST(ProcessGroup, LargeMessage) {
  // 4 Mi floats: more than one protocol fragment, still a single MPI call.
  Tensor t = full({1 << 22}, double(rank() + 1), DType::Float32, dev());
  group().all_reduce(t, ReduceOp::Sum)->wait();
  const double expected = world() * (world() + 1) / 2.0;
  EXPECT_EQ(kiln::max(t).item(), expected);
  EXPECT_EQ(kiln::min(t).item(), expected);
}

}  // namespace
}  // namespace kiln::testing::dist
