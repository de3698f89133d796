#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "backend/backend.h"

namespace kiln::testing {

CommandResult run_command(const std::string& command, const std::vector<std::string>& args) {
  std::string cmd = command;
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / (name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& expected,
                   double atol, double rtol) {
  if (rtol < 0) rtol = atol;
  ASSERT_TRUE(t.defined());
  ASSERT_EQ(t.shape(), shape) << "shape " << shape_str(t.shape()) << " vs " << shape_str(shape);
  std::vector<double> v = t.to_vector();
  ASSERT_EQ(v.size(), expected.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(v[i])) << "element " << i << ": " << v[i] << " vs nan";
      continue;
    }
    if (std::isinf(expected[i])) {
      EXPECT_EQ(v[i], expected[i]) << "element " << i;
      continue;
    }
    EXPECT_NEAR(v[i], expected[i], atol + rtol * std::abs(expected[i])) << "element " << i;
  }
}

void expect_exact_values(const Tensor& t, const Shape& shape, const std::vector<double>& expected) {
  ASSERT_TRUE(t.defined());
  ASSERT_EQ(t.shape(), shape) << "shape " << shape_str(t.shape()) << " vs " << shape_str(shape);
  std::vector<double> v = t.to_vector();
  ASSERT_EQ(v.size(), expected.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_DOUBLE_EQ(v[i], expected[i]) << "element " << i;
}

void expect_contains(const std::string& msg, const std::vector<std::string>& parts) {
  EXPECT_FALSE(msg.empty()) << "no error was thrown";
  for (const auto& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << msg << "\nmissing: " << p;
}

void expect_close(const Tensor& actual, const Tensor& expected, double atol, double rtol,
                  const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_TRUE(expected.defined()) << what;
  ASSERT_EQ(actual.shape(), expected.shape())
      << what << ": shape " << shape_str(actual.shape()) << " vs " << shape_str(expected.shape());
  std::vector<double> a = actual.to_vector(), e = expected.to_vector();
  int reported = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    bool ok = (std::isnan(a[i]) && std::isnan(e[i])) || a[i] == e[i] ||
              std::abs(a[i] - e[i]) <= atol + rtol * std::abs(e[i]);
    if (!ok && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << a[i] << ", expected " << e[i]
                    << " (atol " << atol << ", rtol " << rtol << ")";
  }
}

bool cuda_available() {
  if (!supports(OpId::Copy, Device::cuda(0))) return false;
  try {
    (void)empty({1}, TensorOptions(DType::Float32, Device::cuda(0)));
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace kiln::testing
