// The collective watchdog (see process_group_watchdog.h).
#include "distributed/process_group_watchdog.h"

#include <algorithm>

#include "distributed/process_group_internal.h"

namespace kiln::distributed::detail {

Watchdog::Watchdog(int rank, std::chrono::milliseconds timeout, Abort abort)
    : rank_(rank), timeout_(timeout), abort_(std::move(abort)) {
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Watchdog::track(WorkPtr work, std::string what) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_back(Entry{std::move(work), std::move(what), std::chrono::steady_clock::now()});
  }
  wake_.notify_all();
}

std::string Watchdog::timeout_message(const std::string& what) const {
  return "kiln.distributed: rank " + std::to_string(rank_) + ": " + what +
         " did not complete within " + format_seconds(timeout_) + "; aborting the job";
}

size_t Watchdog::pending() {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void Watchdog::run() {
  // Polling, because neither MPI nor CUDA can notify: a fraction of the timeout keeps the
  // overshoot small, bounded so that a long timeout still notices completions (which release
  // the tensors) promptly and a tiny one does not spin.
  const auto interval =
      std::clamp(timeout_ / 20, std::chrono::milliseconds(2), std::chrono::milliseconds(50));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    if (entries_.empty()) {
      wake_.wait(lock, [&] { return stop_ || !entries_.empty(); });
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    std::string expired;
    for (auto it = entries_.begin(); it != entries_.end();) {
      // is_completed() is cheap (a flag, or cudaEventQuery) and never blocks on another lock
      // that a thread holding mutex_ could wait for.
      if (it->work->is_completed()) {
        it = entries_.erase(it);
        continue;
      }
      if (expired.empty() && now - it->start > timeout_) expired = it->what;
      ++it;
    }
    if (!expired.empty()) {
      const std::string message = timeout_message(expired);
      lock.unlock();
      abort_(message);  // does not return
      lock.lock();
    }
    wake_.wait_for(lock, interval, [&] { return stop_; });
  }
}

}  // namespace kiln::distributed::detail
