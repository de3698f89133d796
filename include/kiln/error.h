#pragma once
// Errors raised by Kiln. Every user-facing failure is a kiln::Error whose message names the op
// and the offending shapes, so a caller can act on it without a debugger.
#include <sstream>
#include <stdexcept>
#include <string>

namespace kiln {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Raised for wrong argument values or shapes (maps to ValueError in Python).
class ValueError : public Error {
 public:
  using Error::Error;
};

// Raised for wrong dtypes or argument types (maps to TypeError in Python).
class TypeError : public Error {
 public:
  using Error::Error;
};

// Raised for indices out of range and malformed indexing expressions: too many indices, a
// mask of the wrong shape, index tensors that do not broadcast (maps to IndexError in Python).
class IndexError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace kiln

// KILN_CHECK(cond, "conv2d: expected 4-D input, got shape ", shape) — message parts are streamed.
#define KILN_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) throw ::kiln::Error(::kiln::detail::concat(__VA_ARGS__)); \
  } while (0)
#define KILN_CHECK_VALUE(cond, ...)                                             \
  do {                                                                          \
    if (!(cond)) throw ::kiln::ValueError(::kiln::detail::concat(__VA_ARGS__)); \
  } while (0)
#define KILN_CHECK_TYPE(cond, ...)                                             \
  do {                                                                         \
    if (!(cond)) throw ::kiln::TypeError(::kiln::detail::concat(__VA_ARGS__)); \
  } while (0)
#define KILN_CHECK_INDEX(cond, ...)                                             \
  do {                                                                          \
    if (!(cond)) throw ::kiln::IndexError(::kiln::detail::concat(__VA_ARGS__)); \
  } while (0)
