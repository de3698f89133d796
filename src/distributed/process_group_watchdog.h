#pragma once
// The watchdog that turns a hung collective into a clear end of the job. Every collective a group
// issues is tracked with its description ("all_reduce #17 (float32 [1024])"); a thread polls the
// tracked works and, when one has not completed within the timeout, calls `abort` with
// "kiln.distributed: rank 1: all_reduce #17 (float32 [1024]) did not complete within 5 s;
// aborting the job" (MPI_Abort ends every process of the job). A peer that died, skipped a
// collective or is stuck somewhere else all look the same from here: nothing completes.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "kiln/distributed/process_group.h"

namespace kiln::distributed::detail {

class Watchdog {
 public:
  // Must not return (it ends the process); called on the watchdog thread.
  using Abort = std::function<void(const std::string& message)>;

  Watchdog(int rank, std::chrono::milliseconds timeout, Abort abort);
  ~Watchdog();  // stops the thread (works still tracked are no longer watched)
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Watches `work` from now on; `what` names it in the message. The work (and the tensors it
  // holds) is kept alive until it completes, which the NCCL group relies on: a tensor freed
  // while the communication stream still uses it would be reused by the allocator.
  void track(WorkPtr work, std::string what);
  // The message the watchdog gives for `what` (for tests and for the Python fault checks).
  std::string timeout_message(const std::string& what) const;
  std::chrono::milliseconds timeout() const { return timeout_; }
  // Number of tracked works not yet seen completed.
  size_t pending();

 private:
  void run();

  struct Entry {
    WorkPtr work;
    std::string what;
    std::chrono::steady_clock::time_point start;
  };
  const int rank_;
  const std::chrono::milliseconds timeout_;
  const Abort abort_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Entry> entries_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace kiln::distributed::detail
