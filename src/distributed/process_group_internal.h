#pragma once
// Internal pieces shared by the process-group implementations: the MPI group (src/distributed),
// the NCCL group (cuda/nccl) and the guard that wraps both (sequence numbers, checked mode,
// watchdog). Plain C++: no MPI, CUDA or NCCL headers.
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>

#include "kiln/distributed/process_group.h"

namespace kiln::distributed::detail {

// "float32 [4, 3]", for messages.
std::string describe(const Tensor& t);
// "5 s", "0.5 s", "2.25 s".
std::string format_seconds(std::chrono::milliseconds duration);

// `options` with the environment's overrides applied: KILN_DIST_TIMEOUT_SEC (seconds, > 0,
// fractional allowed) and KILN_DIST_CHECKED (1/0, true/false). A malformed value is an error
// rather than silently ignored.
InitOptions options_with_env(InitOptions options);

// A Work that some other thread completes (the MPI communication thread; a barrier that is
// already done). wait() rethrows the error the collective raised.
class CompletionWork : public Work {
 public:
  void wait() override;
  bool is_completed() override;
  // Marks the work done (successfully when `error` is null) and wakes the waiters.
  void complete(std::exception_ptr error = nullptr);

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::exception_ptr error_;
};

}  // namespace kiln::distributed::detail
