#include "io/metadata.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "kiln/error.h"

namespace kiln::io {

std::string format_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string format_int(int64_t v) { return std::to_string(v); }

std::string format_doubles(const std::vector<double>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += format_double(v[i]);
  }
  return out;
}

std::string format_ints(const std::vector<int64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += format_int(v[i]);
  }
  return out;
}

double parse_double(const std::string& what, const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(begin, &end);
  KILN_CHECK_VALUE(!text.empty() && end == begin + text.size() && errno != ERANGE, "state dict: '",
                   what, "' should be a number, got '", text, "'");
  return v;
}

int64_t parse_int(const std::string& what, const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(begin, &end, 10);
  KILN_CHECK_VALUE(!text.empty() && end == begin + text.size() && errno != ERANGE, "state dict: '",
                   what, "' should be an integer, got '", text, "'");
  return int64_t(v);
}

namespace {
std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  if (text.empty()) return parts;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}
}  // namespace

std::vector<double> parse_doubles(const std::string& what, const std::string& text) {
  std::vector<double> out;
  for (const auto& part : split_commas(text)) out.push_back(parse_double(what, part));
  return out;
}

std::vector<int64_t> parse_ints(const std::string& what, const std::string& text) {
  std::vector<int64_t> out;
  for (const auto& part : split_commas(text)) out.push_back(parse_int(what, part));
  return out;
}

const std::string& required(const Metadata& meta, const std::string& key, const std::string& who) {
  auto it = meta.find(key);
  KILN_CHECK_VALUE(it != meta.end(), who, ": the state dict has no '", key, "'");
  return it->second;
}

}  // namespace kiln::io
