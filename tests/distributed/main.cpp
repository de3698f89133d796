// main() of kiln_distributed_tests: run on every rank under mpirun (tests/distributed/run.sh).
// It creates the default process group (KILN_DIST_BACKEND: "mpi" by default, "nccl" on a GPU
// machine), runs the tests — every rank runs the same tests in the same order, so their
// collectives match — and destroys the group. Rank 0 prints GoogleTest's usual output; the other
// ranks print only their failures, prefixed with their rank, so a run stays readable.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "kiln/distributed/process_group.h"

namespace {

class FailuresOnly : public testing::EmptyTestEventListener {
 public:
  explicit FailuresOnly(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stdout, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 result.file_name() ? result.file_name() : "?", result.line_number(),
                 result.summary());
    std::fflush(stdout);
  }
  void OnTestEnd(const testing::TestInfo& info) override {
    if (info.result()->Failed()) {
      std::fprintf(stdout, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
      std::fflush(stdout);
    }
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const char* env = std::getenv("KILN_DIST_BACKEND");
  const std::string backend = env && *env ? env : "mpi";
  std::shared_ptr<kiln::distributed::ProcessGroup> group;
  try {
    group = kiln::distributed::init_process_group(backend);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kiln_distributed_tests: %s\n", e.what());
    return 1;
  }
  const int rank = group->rank();
  if (rank != 0) {
    testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailuresOnly(rank));  // gtest owns its listeners
  } else {
    std::printf("kiln_distributed_tests: backend %s, %d ranks\n", backend.c_str(), group->size());
  }
  const int result = RUN_ALL_TESTS();
  kiln::distributed::destroy_process_group();
  return result;
}
