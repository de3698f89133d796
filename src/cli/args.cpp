#include "cli/args.h"

#include <algorithm>

#include "kiln/cuda.h"
#include "kiln/error.h"

namespace kiln::cli {

namespace {
bool listed(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
}  // namespace

Args::Args(int argc, char** argv, int first, const std::vector<std::string>& options,
           const std::vector<std::string>& flags) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      positionals_.push_back(a);
      continue;
    }
    std::string key = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      inline_value = true;
    }
    if (listed(flags, key)) {
      KILN_CHECK_VALUE(!inline_value, "--", key, " takes no value");
      values_[key] = "1";
      continue;
    }
    KILN_CHECK_VALUE(listed(options, key), "unknown option --", key);
    if (!inline_value) {
      KILN_CHECK_VALUE(i + 1 < argc, "option --", key, " needs a value");
      value = argv[++i];
    }
    values_[key] = value;
  }
}

std::string Args::get(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

int64_t Args::get_int(const std::string& key, int64_t fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  try {
    size_t used = 0;
    int64_t v = std::stoll(it->second, &used);
    KILN_CHECK_VALUE(used == it->second.size(), "--", key, " expects an integer, got '", it->second,
                     "'");
    return v;
  } catch (const std::logic_error&) {
    throw ValueError("--" + key + " expects an integer, got '" + it->second + "'");
  }
}

double Args::get_double(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  try {
    size_t used = 0;
    double v = std::stod(it->second, &used);
    KILN_CHECK_VALUE(used == it->second.size(), "--", key, " expects a number, got '", it->second,
                     "'");
    return v;
  } catch (const std::logic_error&) {
    throw ValueError("--" + key + " expects a number, got '" + it->second + "'");
  }
}

std::string default_device() { return cuda::is_available() ? "cuda" : "cpu"; }

}  // namespace kiln::cli
