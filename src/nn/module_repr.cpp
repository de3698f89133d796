// Module::repr, printed exactly like PyTorch's Module.__repr__, and Python-style number
// formatting for extra_repr, so that a printed Kiln model reads like the PyTorch one.
#include <charconv>
#include <cmath>

#include "kiln/nn/module.h"

namespace kiln::nn {

namespace {

// PyTorch's _addindent: every line but the first is indented.
std::string add_indent(const std::string& s, int spaces) {
  std::string pad(size_t(spaces), ' ');
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '\n') out += pad;
  }
  return out;
}

}  // namespace

std::string Module::repr() const {
  std::vector<std::string> extra_lines;
  std::string extra = extra_repr();
  if (!extra.empty()) {
    size_t start = 0;
    while (true) {
      size_t nl = extra.find('\n', start);
      extra_lines.push_back(extra.substr(start, nl == std::string::npos ? nl : nl - start));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  std::vector<std::string> child_lines;
  for (const auto& [n, m] : children_)
    child_lines.push_back("(" + n + "): " + add_indent(m->repr(), 2));

  std::string s = name() + "(";
  if (extra_lines.size() == 1 && child_lines.empty()) {
    s += extra_lines[0];
  } else if (!extra_lines.empty() || !child_lines.empty()) {
    for (const auto* lines : {&extra_lines, &child_lines})
      for (const std::string& l : *lines) s += "\n  " + l;
    s += "\n";
  }
  return s + ")";
}

// Python's float repr: the shortest digits that round-trip, positional for exponents in
// [-4, 16), scientific with a two-digit exponent otherwise; integral values keep ".0".
std::string repr_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e-05"
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e = sci.find('e');
  int exp = std::stoi(sci.substr(e + 1));
  std::string digits = sci.substr(0, e);
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  if (v == 0) exp = 0;

  std::string out;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out = "0." + std::string(size_t(-exp - 1), '0') + digits;
    } else if (size_t(exp) + 1 >= digits.size()) {
      out = digits + std::string(size_t(exp) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, size_t(exp) + 1) + "." + digits.substr(size_t(exp) + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    std::string ed = std::to_string(std::abs(exp));
    if (ed.size() < 2) ed = "0" + ed;
    out += std::string("e") + (exp < 0 ? "-" : "+") + ed;
  }
  return sign + out;
}

}  // namespace kiln::nn
