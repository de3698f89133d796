// Faults. These are DISABLED_ (a normal run skips them): tests/distributed/run.sh runs each one
// alone, with a short KILN_DIST_TIMEOUT_SEC, and expects the whole job to fail within a few
// seconds — with the watchdog's message where a rank is left waiting — rather than hang.
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "test_process_group_util.h"

namespace kiln::testing::dist {
namespace {

// Collective #1 is this barrier, #2 the all_reduce the last rank never joins.
void others_all_reduce() {
  Tensor t = ones({1024}, opt());
  group().all_reduce(t)->wait();
  ADD_FAILURE() << "rank " << rank() << ": the all_reduce completed without the last rank";
}

TEST(ProcessGroupFaults, DISABLED_SkippedCollectiveTimesOut) {
  group().barrier()->wait();
  if (rank() == world() - 1) {
    std::this_thread::sleep_for(std::chrono::seconds(60));  // the others' watchdog ends the job
    return;
  }
  others_all_reduce();
}

TEST(ProcessGroupFaults, DISABLED_RankExitsEarly) {
  group().barrier()->wait();
  if (rank() == world() - 1) std::_Exit(3);  // a crash: no destructors, no MPI_Finalize
  others_all_reduce();
}

TEST(ProcessGroupFaults, DISABLED_RankThrows) {
  group().barrier()->wait();
  // GoogleTest catches the exception: this rank fails the test and goes on to exit normally
  // (MPI_Finalize), while the others wait in the all_reduce until their watchdog ends the job.
  if (rank() == world() - 1) throw std::runtime_error("rank failed before the all_reduce");
  others_all_reduce();
}

}  // namespace
}  // namespace kiln::testing::dist
