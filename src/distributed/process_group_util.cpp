// Helpers shared by every process group: messages, environment options, CompletionWork.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "distributed/process_group_internal.h"

namespace kiln::distributed {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return "sum";
    case ReduceOp::Avg:
      return "avg";
    case ReduceOp::Max:
      return "max";
    case ReduceOp::Min:
      return "min";
  }
  return "?";
}

namespace detail {

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return std::string(dtype_name(t.dtype())) + " " + shape_str(t.shape());
}

std::string format_seconds(std::chrono::milliseconds duration) {
  std::ostringstream os;
  const double seconds = double(duration.count()) / 1000.0;
  os << seconds << " s";  // the default stream format: "5", "0.5", "2.25"
  return os.str();
}

InitOptions options_with_env(InitOptions options) {
  if (const char* value = std::getenv("KILN_DIST_TIMEOUT_SEC"); value && *value) {
    char* end = nullptr;
    const double seconds = std::strtod(value, &end);
    KILN_CHECK_VALUE(end != value && *end == '\0' && std::isfinite(seconds) && seconds > 0,
                     "init_process_group: KILN_DIST_TIMEOUT_SEC must be a positive number of "
                     "seconds, got '",
                     value, "'");
    options.timeout = std::chrono::milliseconds(std::llround(seconds * 1000.0));
    if (options.timeout.count() == 0) options.timeout = std::chrono::milliseconds(1);
  }
  if (const char* value = std::getenv("KILN_DIST_CHECKED"); value && *value) {
    const std::string v(value);
    if (v == "1" || v == "true" || v == "TRUE" || v == "True" || v == "yes") {
      options.checked = true;
    } else if (v == "0" || v == "false" || v == "FALSE" || v == "False" || v == "no") {
      options.checked = false;
    } else {
      KILN_CHECK_VALUE(false, "init_process_group: KILN_DIST_CHECKED must be 1 or 0, got '", v,
                       "'");
    }
  }
  KILN_CHECK_VALUE(options.timeout.count() > 0,
                   "init_process_group: the timeout must be positive, got ",
                   options.timeout.count(), " ms");
  return options;
}

void CompletionWork::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait(lock, [&] { return done_; });
  if (error_) std::rethrow_exception(error_);
}

bool CompletionWork::is_completed() {
  std::lock_guard<std::mutex> lock(mutex_);
  return done_;
}

void CompletionWork::complete(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
    error_ = std::move(error);
  }
  done_cv_.notify_all();
}

}  // namespace detail
}  // namespace kiln::distributed
