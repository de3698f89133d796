// kiln::nn::receptive_field: walks a model's main path (see kiln/nn/receptive_field.h for the
// rules) and applies the receptive-field recurrences layer by layer.
#include "kiln/nn/receptive_field.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "kiln/autograd.h"
#include "kiln/error.h"
#include "kiln/nn/container.h"
#include "kiln/nn/convolution.h"
#include "kiln/nn/pooling.h"
#include "kiln/nn/resample.h"
#include "kiln/ops.h"
#include "kiln/shape.h"

namespace kiln::nn {

namespace {

// Whole numbers without decimals, others as %.6g (Python's '%.6g' prints the same).
std::string number_str(double v) {
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(std::llround(v)));
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", v);
  }
  return buf;
}

std::string dims_str(const std::vector<double>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "x" : "") + number_str(v[i]);
  return out;
}

// The per-dim settings of a layer, whatever its dimensionality: one value repeated, or one per
// spatial dim.
template <class C>
std::vector<int64_t> per_dim(const C& c, size_t dims) {
  std::vector<int64_t> v(c.begin(), c.end());
  if (v.size() == 1 && dims > 1) v.assign(dims, v[0]);
  return v;
}

}  // namespace

// ---------------- the walk ----------------

FieldTracer::FieldTracer(const Shape& input_shape)
    : spatial_dims_(int64_t(input_shape.size()) - 2),
      size_(input_shape.begin() + 2, input_shape.end()),
      field_(size_.size(), 1.0),
      jump_(size_.size(), 1.0),
      start_(size_.size(), 0.0) {
  result_.layers.push_back({"input", "-", input_shape, field_, jump_, start_});
}

Tensor FieldTracer::step(const std::string& name, Module& module, const Tensor& x) {
  prefix_.push_back(name);
  struct Pop {
    std::vector<std::string>& v;
    ~Pop() { v.pop_back(); }
  } pop{prefix_};
  std::string path;
  for (const auto& p : prefix_)
    if (!p.empty()) path += (path.empty() ? "" : ".") + p;

  if (auto* traced = dynamic_cast<FieldTraced*>(&module)) return traced->trace_field(*this, x);
  if (auto* seq = dynamic_cast<Sequential*>(&module)) {
    const NamedModules named = seq->named_children();
    Tensor h = x;
    for (const auto& child : *seq) {
      auto it = std::find_if(named.begin(), named.end(),
                             [&](const auto& e) { return e.second == child; });
      h = step(it != named.end() ? it->first : std::string("?"), *child, h);
    }
    return h;
  }
  KILN_CHECK_VALUE(module.children().empty(), "receptive_field: cannot trace ", module.name(), " '",
                   path.empty() ? "model" : path,
                   "': a module with submodules must be a Sequential or implement "
                   "nn::FieldTraced (its forward is not known to be its children in order)");
  return layer(path, module, x);
}

void FieldTracer::check_input(const std::string& path, Module& module, const Tensor& x) {
  if (!spatial_) return;
  if (x.dim() != 2 + spatial_dims_) {
    fold();  // flattened by a functional op on the main path (torch.flatten before fc)
    return;
  }
  const Shape in(x.shape().begin() + 2, x.shape().end());
  KILN_CHECK_VALUE(in == size_, "receptive_field: ", module.name(), " '", path,
                   "' gets spatial size ", shape_str(in), " but the traced path ends at ",
                   shape_str(size_),
                   ": an operation outside the traced layers changed it (call that layer through "
                   "FieldTracer::step)");
}

void FieldTracer::fold() {
  for (size_t i = 0; i < size_.size(); ++i) {
    const double n = double(size_[i]);
    field_[i] += (n - 1) * jump_[i];
    start_[i] += (n - 1) / 2 * jump_[i];
    jump_[i] *= n;
    size_[i] = 1;
  }
  spatial_ = false;
}

Tensor FieldTracer::layer(const std::string& path, Module& module, const Tensor& x) {
  check_input(path, module, x);
  Tensor y = module(x);
  if (spatial_ && y.dim() != 2 + spatial_dims_) {
    fold();
  } else if (spatial_) {
    const size_t nd = size_.size();
    const Shape out(y.shape().begin() + 2, y.shape().end());
    // A window of k_eff input elements every s, the first centred at (k_eff - 1) / 2 - p.
    auto window = [&](size_t i, double k_eff, double s, double p) {
      start_[i] += ((k_eff - 1) / 2 - p) * jump_[i];
      field_[i] += (k_eff - 1) * jump_[i];
      jump_[i] *= s;
    };
    // Up-sampling by `scale`: output o sits at coordinate `first + o / scale` of the input
    // grid and mixes `span + 1` neighbouring inputs.
    auto upsample = [&](size_t i, double scale, double first, double span) {
      start_[i] += first * jump_[i];
      field_[i] += span * jump_[i];
      jump_[i] /= scale;
    };
    auto adaptive = [&](size_t i) {
      const int64_t in = size_[i], n = out[i];
      if (n > 0 && in % n == 0) return window(i, double(in / n), double(in / n), 0);
      int64_t longest = 0;
      for (int64_t o = 0; o < n; ++o)  // window o: [floor(o * in / n), ceil((o + 1) * in / n))
        longest = std::max(longest, (o + 1) * in / n + ((o + 1) * in % n != 0) - o * in / n);
      const double first = double(in / n + (in % n != 0));
      start_[i] += (first - 1) / 2 * jump_[i];
      field_[i] += double(longest - 1) * jump_[i];
      jump_[i] *= double(in) / double(n);
    };

    if (auto* c = dynamic_cast<ConvNd*>(&module)) {
      const auto k = per_dim(c->kernel_size(), nd), s = per_dim(c->stride(), nd),
                 p = per_dim(c->padding(), nd), d = per_dim(c->dilation(), nd);
      for (size_t i = 0; i < nd; ++i) {
        const double k_eff = double(d[i] * (k[i] - 1) + 1);
        if (c->transposed()) {
          upsample(i, double(s[i]), (double(p[i]) - (k_eff - 1) / 2) / double(s[i]),
                   std::floor((k_eff - 1) / double(s[i])));
        } else {
          window(i, k_eff, double(s[i]), double(p[i]));
        }
      }
    } else if (auto* m1 = dynamic_cast<MaxPool1d*>(&module)) {
      window(0, double(m1->dilation() * (m1->kernel_size() - 1) + 1), double(m1->stride()),
             double(m1->padding()));
    } else if (auto* m2 = dynamic_cast<MaxPool2d*>(&module)) {
      for (size_t i = 0; i < nd; ++i)
        window(i, double(m2->dilation()[i] * (m2->kernel_size()[i] - 1) + 1),
               double(m2->stride()[i]), double(m2->padding()[i]));
    } else if (auto* a1 = dynamic_cast<AvgPool1d*>(&module)) {
      window(0, double(a1->kernel_size()), double(a1->stride()), double(a1->padding()));
    } else if (auto* a2 = dynamic_cast<AvgPool2d*>(&module)) {
      for (size_t i = 0; i < nd; ++i)
        window(i, double(a2->kernel_size()[i]), double(a2->stride()[i]), double(a2->padding()[i]));
    } else if (dynamic_cast<AdaptiveAvgPool1d*>(&module) ||
               dynamic_cast<AdaptiveAvgPool2d*>(&module) ||
               dynamic_cast<AdaptiveMaxPool2d*>(&module)) {
      for (size_t i = 0; i < nd; ++i) adaptive(i);
    } else if (auto* u = dynamic_cast<Upsample*>(&module)) {
      const std::string& mode = u->mode();
      const double span = mode == "nearest" || mode == "nearest-exact" ? 0.0
                          : mode == "bicubic"                          ? 3.0
                                                                       : 1.0;
      for (size_t i = 0; i < nd; ++i) {
        if (u->align_corners().value_or(false) && out[i] > 1) {
          // Corners on corners: output o at o * (in - 1) / (out - 1).
          upsample(i, double(out[i] - 1) / double(std::max<int64_t>(size_[i] - 1, 1)), 0.0, span);
        } else {
          const double scale = double(out[i]) / double(size_[i]);
          upsample(i, scale, 0.5 / scale - 0.5, span);
        }
      }
    } else if (dynamic_cast<PixelShuffle*>(&module)) {
      for (size_t i = 0; i < nd; ++i) {
        const double scale = double(out[i]) / double(size_[i]);
        upsample(i, scale, 0.5 / scale - 0.5, 0.0);
      }
    } else if (dynamic_cast<PixelUnshuffle*>(&module)) {
      for (size_t i = 0; i < nd; ++i) {
        const double r = double(size_[i]) / double(out[i]);
        window(i, r, r, 0.0);
      }
    } else if (auto* pad = dynamic_cast<Pad2d*>(&module)) {
      // pads = {left, right, top, bottom}: the last dim, then the one before.
      const auto& pads = pad->pads();
      for (size_t i = 0; i < nd && i < 2; ++i) window(nd - 1 - i, 1.0, 1.0, double(pads[2 * i]));
    } else {
      KILN_CHECK_VALUE(out == size_, "receptive_field: ", module.name(), " '", path,
                       "' changes the spatial size from ", shape_str(size_), " to ", shape_str(out),
                       " and its geometry is not known");
    }
    size_ = out;
  }
  record(path, module.name(), y);
  return y;
}

void FieldTracer::record(const std::string& path, const std::string& type, const Tensor& out) {
  result_.layers.push_back(
      {path.empty() ? std::string("model") : path, type, out.shape(), field_, jump_, start_});
}

// ---------------- entry point and printing ----------------

ReceptiveField receptive_field(Module& model, const Shape& input_shape) {
  KILN_CHECK_VALUE(input_shape.size() >= 3 && input_shape.size() <= 5,
                   "receptive_field: expected an input shape [N, C, *spatial] with 1 to 3 "
                   "spatial dims, got ",
                   shape_str(input_shape));
  for (int64_t s : input_shape)
    KILN_CHECK_VALUE(s > 0, "receptive_field: input shape ", shape_str(input_shape),
                     " has an empty dimension");
  TensorOptions opts;
  if (auto params = model.parameters(); !params.empty()) {
    opts.dtype = params[0].dtype();
    opts.device = params[0].device();
  }
  // Children before parents (apply's order); restored in reverse, so that each module's
  // train() (which recurses) runs before its submodules get their own flags back.
  std::vector<std::pair<Module*, bool>> flags;
  model.apply([&](Module& m) { flags.emplace_back(&m, m.is_training()); });
  struct Restore {
    std::vector<std::pair<Module*, bool>>& flags;
    ~Restore() {
      for (auto it = flags.rbegin(); it != flags.rend(); ++it) it->first->train(it->second);
    }
  } restore{flags};
  model.eval();
  NoGradGuard no_grad;
  FieldTracer tracer(input_shape);
  tracer.step("", model, zeros(input_shape, opts));
  return std::move(tracer.result_);
}

const LayerField& ReceptiveField::at(const std::string& name, bool last) const {
  const LayerField* found = nullptr;
  for (const auto& l : layers) {
    if (l.name != name) continue;
    found = &l;
    if (!last) break;
  }
  KILN_CHECK_VALUE(found != nullptr, "receptive_field: no layer named '", name, "'");
  return *found;
}

std::string ReceptiveField::to_string() const {
  std::vector<std::vector<std::string>> rows = {
      {"layer", "type", "output shape", "receptive field", "jump", "start"}};
  for (const auto& l : layers)
    rows.push_back({l.name, l.type, shape_str(l.output_shape), dims_str(l.receptive_field),
                    dims_str(l.jump), dims_str(l.start)});
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c)
      line += r[c] + (c + 1 < r.size() ? std::string(width[c] - r[c].size() + 2, ' ') : "");
    out += line + "\n";
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const ReceptiveField& rf) {
  return os << rf.to_string();
}

}  // namespace kiln::nn
