#pragma once
// Small helpers shared by the C++ tests.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::testing {

// A shell command's exit code (-1 when it did not exit normally) and its stdout + stderr.
struct CommandResult {
  int code = -1;
  std::string output;
};
// Runs `command` followed by `args`, each single-quoted, through the shell.
CommandResult run_command(const std::string& command, const std::vector<std::string>& args);
// An empty directory <tmp>/<name>_<pid> for one test's files.
std::string scratch_dir(const std::string& name);

// Asserts shape and values (within atol + rtol * |expected|; rtol defaults to atol). NaN and
// infinities must match exactly.
void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& expected,
                   double atol = 1e-6, double rtol = -1);
// Asserts shape and values equal up to a few ulps (EXPECT_DOUBLE_EQ).
void expect_exact_values(const Tensor& t, const Shape& shape, const std::vector<double>& expected);

// The message of the kiln::Error `f` throws, or "" when it throws none.
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
// Asserts that an error was thrown and that its message contains every part.
void expect_contains(const std::string& msg, const std::vector<std::string>& parts);
// Asserts that two tensors have equal shapes and close values.
void expect_close(const Tensor& actual, const Tensor& expected, double atol, double rtol,
                  const std::string& what = "");

// Whether a CUDA device is usable in this process (false in CPU-only builds).
bool cuda_available();

}  // namespace kiln::testing

// Expects `stmt` to throw a kiln::Error (or subclass `type`) whose message contains every one of
// the given substrings.
#define EXPECT_THROW_MSG(stmt, type, ...)                                    \
  do {                                                                       \
    bool thrown_ = false;                                                    \
    try {                                                                    \
      stmt;                                                                  \
    } catch (const type& e_) {                                               \
      thrown_ = true;                                                        \
      for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__}) \
        EXPECT_NE(std::string(e_.what()).find(part_), std::string::npos)     \
            << "message \"" << e_.what() << "\" lacks \"" << part_ << "\"";  \
    } catch (const std::exception& e_) {                                     \
      ADD_FAILURE() << "threw the wrong type: " << e_.what();                \
      thrown_ = true;                                                        \
    }                                                                        \
    EXPECT_TRUE(thrown_) << #stmt " did not throw";                          \
  } while (0)
