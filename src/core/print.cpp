// Printing a tensor the way PyTorch does: a common element format chosen from the values,
// right-aligned columns, nested brackets, summarisation beyond 1000 elements, and suffixes for
// non-default dtype, device, requires_grad and grad_fn.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/function_node.h"
#include "core/tensor_impl.h"
#include "kiln/ops.h"

namespace kiln {
namespace {

constexpr int64_t kThreshold = 1000;  // print everything up to this many elements
constexpr int64_t kEdgeItems = 3;
constexpr size_t kLineWidth = 80;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

class Formatter {
 public:
  Formatter(const std::vector<double>& values, DType dtype) : dtype_(dtype) {
    if (!is_floating(dtype)) {
      for (double v : values) width_ = std::max(width_, format(v).size());
      return;
    }
    std::vector<double> finite;
    for (double v : values)
      if (std::isfinite(v)) finite.push_back(v);
    int_mode_ = true;
    for (double v : finite) int_mode_ = int_mode_ && v == std::ceil(v);
    double amax = 0, amin = INFINITY;
    for (double v : finite) {
      if (v == 0) continue;
      amax = std::max(amax, std::abs(v));
      amin = std::min(amin, std::abs(v));
    }
    if (amax > 0) {
      if (int_mode_)
        sci_ = amax / amin > 1000 || amax > 1e8;
      else
        sci_ = amax / amin > 1000 || amax > 1e8 || amin < 1e-4;
    }
    // As in torch, the column width comes from the finite non-zero values only: nan, inf and
    // zeros are printed unpadded when they are wider.
    for (double v : finite)
      if (v != 0) width_ = std::max(width_, format(v).size());
  }

  std::string format(double v) const {
    if (dtype_ == DType::Bool) return v != 0 ? "True" : "False";
    if (!is_floating(dtype_)) return std::to_string(int64_t(v));
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (sci_) return fmt("%.4e", v);
    if (int_mode_) return fmt("%.0f", v) + ".";
    return fmt("%.4f", v);
  }
  std::string pad(double v) const {
    std::string s = format(v);
    return std::string(width_ > s.size() ? width_ - s.size() : 0, ' ') + s;
  }
  size_t width() const { return width_; }

 private:
  DType dtype_;
  bool int_mode_ = false, sci_ = false;
  size_t width_ = 1;
};

// Indices shown along a dimension of size n (with -1 standing for "...").
std::vector<int64_t> shown(int64_t n, bool summarize) {
  std::vector<int64_t> idx;
  if (summarize && n > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    idx.push_back(-1);
    for (int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
  } else {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  }
  return idx;
}

struct Printer {
  const std::vector<double>& data;
  const Shape& shape;
  Shape strides;
  const Formatter& f;
  bool summarize;

  std::string render(size_t dim, int64_t offset, size_t indent) const {
    const size_t nd = shape.size();
    if (dim == nd - 1) {
      std::vector<std::string> items;
      for (int64_t i : shown(shape[dim], summarize))
        items.push_back(i < 0 ? " ..." : f.pad(data[size_t(offset + i * strides[dim])]));
      size_t per_line = std::max<size_t>(1, (kLineWidth - indent) / (f.width() + 2));
      std::string s = "[";
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0 && i % per_line == 0) {
          s += ",\n";
          s.append(indent + 1, ' ');
        } else if (i > 0) {
          s += ", ";
        }
        s += items[i];
      }
      return s + "]";
    }
    std::vector<std::string> parts;
    for (int64_t i : shown(shape[dim], summarize))
      parts.push_back(i < 0 ? "..." : render(dim + 1, offset + i * strides[dim], indent + 1));
    std::string sep = ",";
    sep.append(nd - dim - 1, '\n');
    sep.append(indent + 1, ' ');
    std::string s = "[";
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i > 0) s += sep;
      s += parts[i];
    }
    return s + "]";
  }
};

// The values a summarised print shows (so the format is chosen from them only).
void collect(const std::vector<double>& data, const Shape& shape, const Shape& strides, size_t dim,
             int64_t offset, bool summarize, std::vector<double>& out) {
  if (dim == shape.size()) {
    out.push_back(data[size_t(offset)]);
    return;
  }
  for (int64_t i : shown(shape[dim], summarize))
    if (i >= 0) collect(data, shape, strides, dim + 1, offset + i * strides[dim], summarize, out);
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const std::string prefix = "tensor(";
  std::vector<double> data = to_vector();
  const Shape& s = shape();
  bool summarize = numel() > kThreshold;
  std::vector<double> visible;
  collect(data, s, contiguous_strides(s), 0, 0, summarize, visible);
  Formatter f(visible, dtype());
  std::string body;
  if (s.empty()) {
    body = f.format(data[0]);
  } else if (numel() == 0) {
    body = "[]";
  } else {
    body = Printer{data, s, contiguous_strides(s), f, summarize}.render(0, 0, prefix.size());
  }
  std::vector<std::string> suffixes;
  if (device().is_cuda()) suffixes.push_back("device='" + device().str() + "'");
  if (numel() == 0 && s.size() != 1) {
    std::string size = "size=(";
    for (size_t i = 0; i < s.size(); ++i) size += (i ? ", " : "") + std::to_string(s[i]);
    suffixes.push_back(size + ")");
  }
  bool default_dtype =
      dtype() == kDefaultFloat || dtype() == DType::Int64 || dtype() == DType::Bool;
  if (!default_dtype) suffixes.push_back(std::string("dtype=kiln.") + dtype_name(dtype()));
  if (grad_fn()) {
    suffixes.push_back("grad_fn=<" + grad_fn()->name() + ">");
  } else if (requires_grad()) {
    suffixes.push_back("requires_grad=True");
  }
  // torch's _add_suffixes: a suffix that would pass the line width goes on a new line, indented
  // under the first bracket (the length arithmetic, quirks included, is torch's).
  std::string out = prefix + body;
  const size_t newline = out.rfind('\n');
  size_t last_line = newline == std::string::npos ? out.size() + 2 : out.size() - newline + 1;
  for (const std::string& suffix : suffixes) {
    if (last_line + suffix.size() + 2 > kLineWidth) {
      out += ",\n" + std::string(prefix.size(), ' ') + suffix;
      last_line = prefix.size() + suffix.size();
    } else {
      out += ", " + suffix;
      last_line += suffix.size() + 2;
    }
  }
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace kiln
