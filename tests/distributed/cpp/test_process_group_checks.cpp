// Argument errors, checked mode (the ranks compare what they are about to do and all raise the
// same ValueError) and the watchdog's message.
#include <chrono>
#include <future>
#include <thread>

#include "distributed/mpi_group.h"
#include "distributed/process_group_guarded.h"
#include "distributed/process_group_internal.h"
#include "distributed/process_group_signature.h"
#include "distributed/process_group_watchdog.h"
#include "test_process_group_util.h"

namespace kiln::testing::dist {
namespace {

using distributed::InitOptions;
using distributed::ReduceOp;
using namespace distributed::detail;

TEST(ProcessGroupErrors, ArgumentsAreCheckedBeforeAnythingIsSent) {
  Tensor t = zeros({3}, opt(DType::Int64));
  EXPECT_THROW_MSG(group().all_reduce(t, ReduceOp::Avg), TypeError, "all_reduce",
                   "ReduceOp.AVG needs a floating-point tensor", "int64 [3]");
  EXPECT_THROW_MSG(group().broadcast(t, world()), ValueError, "broadcast: root",
                   "is not a rank of this group");
  EXPECT_THROW_MSG(group().all_reduce(Tensor()), ValueError, "all_reduce", "undefined");
  std::vector<Tensor> too_few(size_t(world() + 1), zeros({3}, opt(DType::Int64)));
  EXPECT_THROW_MSG(group().all_gather(too_few, t), ValueError, "all_gather", "one tensor per rank");
  std::vector<Tensor> wrong_own(size_t(world()), zeros({3}, opt(DType::Int64)));
  wrong_own[size_t(rank())] = zeros({4}, opt(DType::Int64));
  EXPECT_THROW_MSG(group().all_gather(wrong_own, t), ValueError, "all_gather", "this rank's", "[4]",
                   "[3]");
  std::vector<Tensor> wrong_dtype(size_t(world()), zeros({3}, opt(DType::Float32)));
  EXPECT_THROW_MSG(group().reduce_scatter(t, wrong_dtype), TypeError, "reduce_scatter",
                   "float32 [3]", "int64 [3]");
  // Nothing was sent: the group still works, and its collectives still match across ranks.
  Tensor one = ones({1}, opt());
  group().all_reduce(one)->wait();
  EXPECT_EQ(one.item(), world());
}

TEST(ProcessGroupErrors, SignaturesRoundTripAndCompare) {
  const Tensor a = zeros({4, 3}, opt()), b = zeros({4, 2}, opt());
  const Signature sa = signature_of(Collective::AllReduce, a, {}, int64_t(ReduceOp::Sum));
  const std::vector<int64_t> encoded = encode(sa);
  const Signature back = decode(encoded.data(), encoded.size());
  EXPECT_EQ(encode(back), encoded);
  EXPECT_FALSE(find_mismatch({sa, sa}));
  const Signature sb = signature_of(Collective::AllReduce, b, {}, int64_t(ReduceOp::Sum));
  EXPECT_EQ(find_mismatch({sa, sb}).value_or(""),
            "all_reduce: rank 0 has float32 [4, 3] but rank 1 has float32 [4, 2]");
  EXPECT_EQ(find_mismatch({sa, sa, sb}).value_or(""),
            "all_reduce: rank 0 has float32 [4, 3] but rank 2 has float32 [4, 2]");
  const Signature max = signature_of(Collective::AllReduce, a, {}, int64_t(ReduceOp::Max));
  EXPECT_EQ(find_mismatch({sa, max}).value_or(""),
            "all_reduce: rank 0 reduces with sum but rank 1 with max");
  const Signature bc = signature_of(Collective::Broadcast, a, {}, -1, 0);
  EXPECT_EQ(find_mismatch({sa, bc}).value_or(""),
            "collective mismatch: rank 0 called all_reduce (float32 [4, 3]) but rank 1 called "
            "broadcast (float32 [4, 3])");
  const Signature root1 = signature_of(Collective::Broadcast, a, {}, -1, 1);
  EXPECT_EQ(find_mismatch({bc, root1}).value_or(""),
            "broadcast: rank 0 uses root 0 but rank 1 uses root 1");
  const Signature dbl = signature_of(Collective::AllReduce, zeros({4, 3}, opt(DType::Float64)), {},
                                     int64_t(ReduceOp::Sum));
  EXPECT_EQ(find_mismatch({sa, dbl}).value_or(""),
            "all_reduce: rank 0 has float32 [4, 3] but rank 1 has float64 [4, 3]");
  // all_gather: rank 0 expects [2] from rank 1, which sends [3].
  const Tensor x2 = zeros({2}, opt()), x3 = zeros({3}, opt());
  const Signature g0 = signature_of(Collective::AllGather, x2, {x2, x2});
  const Signature g1 = signature_of(Collective::AllGather, x3, {x2, x3});
  EXPECT_EQ(find_mismatch({g0, g1}).value_or(""),
            "all_gather: rank 0 expects float32 [2] from rank 1 but rank 1 has float32 [3]");
  const Signature g0ok = signature_of(Collective::AllGather, x2, {x2, x3});
  EXPECT_FALSE(find_mismatch({g0ok, g1}));
  // reduce_scatter: rank 1 sends [3] to rank 0, whose output is [2].
  const Signature r0 = signature_of(Collective::ReduceScatter, x2, {x2, x3}, 0);
  const Signature r1 = signature_of(Collective::ReduceScatter, x3, {x3, x3}, 0);
  EXPECT_EQ(find_mismatch({r0, r1}).value_or(""),
            "reduce_scatter: rank 1 sends float32 [3] to rank 0 but rank 0 has output float32 [2]");
}

TEST(ProcessGroupErrors, CheckedModeRaisesTheSameErrorOnEveryRank) {
  if (world() < 2) GTEST_SKIP() << "needs 2 ranks";
  InitOptions options;
  options.checked = true;
  options.timeout = std::chrono::seconds(60);
  // An mpi group of its own (CPU tensors), whatever the default group's backend.
  auto mpi_group = distributed::mpi::make_mpi_group();
  GuardedGroup guarded(mpi_group, mpi_group, options, [](const std::string& message) {
    ADD_FAILURE() << message;
    std::abort();
  });
  distributed::ProcessGroup& checked = guarded;  // the interface's default arguments
  // Rank 1 has [4, 2], the others [4, 3].
  Tensor t = zeros({4, rank() == 1 ? 2 : 3});
  EXPECT_THROW_MSG(checked.all_reduce(t), ValueError,
                   "all_reduce: rank 0 has float32 [4, 3] but rank 1 has float32 [4, 2]",
                   "checked mode, collective #1");
  // all_gather: rank 1 sends one more row than the others expect.
  Tensor input = zeros({rank() == 1 ? 3 : 2});
  std::vector<Tensor> outputs(size_t(world()), zeros({2}));
  outputs[size_t(rank())] = zeros(input.shape());
  EXPECT_THROW_MSG(checked.all_gather(outputs, input), ValueError,
                   "all_gather: rank 0 expects float32 [2] from rank 1 but rank 1 has float32 "
                   "[3]",
                   "collective #2");
  // Different collectives at the same point.
  Tensor u = ones({5});
  EXPECT_THROW_MSG(rank() == 0 ? checked.broadcast(u, 0) : checked.all_reduce(u), ValueError,
                   "collective mismatch: rank 0 called broadcast (float32 [5]) but rank 1 called "
                   "all_reduce (float32 [5])");
  // Matching calls go through, and the sequence numbers stayed aligned.
  Tensor ok = ones({4, 3});
  checked.all_reduce(ok)->wait();
  EXPECT_EQ(ok.to_vector()[0], world());
  checked.barrier()->wait();
}

TEST(ProcessGroupErrors, WatchdogNamesRankCollectiveSequenceAndShape) {
  // A local watchdog whose "abort" reports instead of ending the job; the work never completes.
  std::promise<std::string> fired;
  auto future = fired.get_future();
  std::once_flag once;
  Watchdog watchdog(7, std::chrono::milliseconds(50), [&](const std::string& message) {
    std::call_once(once, [&] { fired.set_value(message); });
  });
  auto never = std::make_shared<CompletionWork>();
  auto done = std::make_shared<CompletionWork>();
  done->complete();
  const auto start = std::chrono::steady_clock::now();
  watchdog.track(done, "barrier #16");
  watchdog.track(never, "all_reduce #17 (float32 [1024])");
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const double after =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(future.get(),
            "kiln.distributed: rank 7: all_reduce #17 (float32 [1024]) did not complete within "
            "0.05 s; aborting the job");
  EXPECT_GE(after, 0.05);
  EXPECT_LT(after, 2.0);
  EXPECT_EQ(watchdog.pending(), 1u);  // the completed one was dropped
  never->complete();
}

TEST(ProcessGroupErrors, EnvironmentOverridesTheOptions) {
  ::setenv("KILN_DIST_TIMEOUT_SEC", "2.5", 1);
  ::setenv("KILN_DIST_CHECKED", "1", 1);
  const InitOptions o = options_with_env(InitOptions{});
  EXPECT_EQ(o.timeout.count(), 2500);
  EXPECT_TRUE(o.checked);
  ::setenv("KILN_DIST_TIMEOUT_SEC", "soon", 1);
  EXPECT_THROW_MSG(options_with_env(InitOptions{}), ValueError, "KILN_DIST_TIMEOUT_SEC", "soon");
  ::setenv("KILN_DIST_TIMEOUT_SEC", "-1", 1);
  EXPECT_THROW_MSG(options_with_env(InitOptions{}), ValueError, "KILN_DIST_TIMEOUT_SEC");
  ::unsetenv("KILN_DIST_TIMEOUT_SEC");
  ::setenv("KILN_DIST_CHECKED", "maybe", 1);
  EXPECT_THROW_MSG(options_with_env(InitOptions{}), ValueError, "KILN_DIST_CHECKED", "maybe");
  ::unsetenv("KILN_DIST_CHECKED");
  EXPECT_EQ(format_seconds(std::chrono::milliseconds(5000)), "5 s");
  EXPECT_EQ(format_seconds(std::chrono::milliseconds(500)), "0.5 s");
}

TEST(ProcessGroupErrors, InitTwiceAndUnknownBackend) {
  EXPECT_THROW_MSG(distributed::init_process_group("mpi"), Error, "already initialised");
  EXPECT_THROW_MSG(distributed::init_process_group("gloo"), ValueError, "unknown backend 'gloo'");
  EXPECT_TRUE(distributed::is_available("mpi"));
}

}  // namespace
}  // namespace kiln::testing::dist
