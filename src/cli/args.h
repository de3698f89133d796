#pragma once
// Command-line options of the `kiln` program: `--name value` and `--flag` pairs after a command.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln::cli {

class Args {
 public:
  // Parses argv[first..]: positionals, `--key value`, `--key=value` and bare flags (those
  // listed in `flags`). Throws kiln::ValueError on an unknown option or a missing value.
  Args(int argc, char** argv, int first, const std::vector<std::string>& options,
       const std::vector<std::string>& flags);

  const std::vector<std::string>& positionals() const { return positionals_; }
  bool has(const std::string& key) const { return values_.count(key) > 0; }
  std::string get(const std::string& key, const std::string& fallback) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;

 private:
  std::vector<std::string> positionals_;
  std::map<std::string, std::string> values_;
};

// The device --device defaults to: "cuda" when a GPU is usable, else "cpu".
std::string default_device();

}  // namespace kiln::cli
