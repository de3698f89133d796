// Planning x[indices] the way PyTorch 1.13's Python indexing does (applySlicing): indices are
// read left to right against a dim pointer into the progressively sliced tensor. Integers (and
// 0-d integer tensors) select and drop their dim, slices and None keep theirs, Ellipsis skips
// the dims nobody names, tensors record an index for the dim (a k-dim mask for k dims). Because
// integers are applied first, they never make advanced indices non-adjacent (NumPy differs:
// x[:, i, :, 0] is [2, n, 4] here and [n, 2, 4] in NumPy for x of shape [2, 3, 4, 5]).
// Index values are read and checked on the host, so every error is raised before any write.
#include "ops/index_plan.h"

#include <algorithm>
#include <numeric>

namespace kiln {

namespace {

bool is_mask(const Tensor& t) { return t.dtype() == DType::Bool || t.dtype() == DType::UInt8; }

// How many dims of x an index consumes (PyTorch's count_specified_dimensions).
int64_t consumed_dims(const TensorIndex& index) {
  if (std::holds_alternative<int64_t>(index) || std::holds_alternative<Slice>(index)) return 1;
  if (const Tensor* t = std::get_if<Tensor>(&index))
    return t->defined() && is_mask(*t) ? t->dim() : 1;
  return 0;
}

// An int64 CPU copy of `t`'s values, contiguous.
Tensor host_int64(const Tensor& t) {
  Tensor host = t.device().is_cpu() ? t : t.to(Device::cpu());
  return contiguous(cast_raw(host.detach(), DType::Int64));
}

class Planner {
 public:
  Planner(const char* op, const Tensor& x)
      : op_(op), x_(x), shape_(x.shape()), indices_(size_t(x.dim())) {
    source_.resize(size_t(x.dim()));
    std::iota(source_.begin(), source_.end(), 0);
  }

  IndexPlan run(const std::vector<TensorIndex>& indices) {
    int64_t specified = 0;
    for (const TensorIndex& i : indices) specified += consumed_dims(i);
    KILN_CHECK_INDEX(specified <= x_.dim(), op_, ": too many indices for a tensor of shape ",
                     shape_str(x_.shape()), ": ", specified, " dimensions indexed, it has ",
                     x_.dim());
    bool ellipsis = false;
    for (size_t k = 0; k < indices.size(); ++k) {
      const TensorIndex& i = indices[k];
      if (const auto* v = std::get_if<int64_t>(&i)) {
        select(*v);
      } else if (const auto* s = std::get_if<Slice>(&i)) {
        slice(*s);
      } else if (std::holds_alternative<NewAxis>(i)) {
        new_axis(Tensor());
      } else if (std::holds_alternative<EllipsisIndex>(i)) {
        KILN_CHECK_INDEX(!ellipsis, op_, ": an index can only have a single ellipsis (...) (input ",
                         "shape ", shape_str(x_.shape()), ")");
        ellipsis = true;
        dim_ += x_.dim() - specified;
      } else {
        tensor_index(std::get<Tensor>(i), k);
      }
    }
    return finish();
  }

 private:
  std::string where(int64_t d) const {
    return detail::concat("dimension ", source_[size_t(d)], " with size ", shape_[size_t(d)],
                          " (input shape ", shape_str(x_.shape()), ")");
  }

  void select(int64_t v) {
    const int64_t size = shape_[size_t(dim_)];
    KILN_CHECK_INDEX(v >= -size && v < size, op_, ": index ", v, " is out of range for ",
                     where(dim_));
    if (v < 0) v += size;
    plan_.steps.push_back({BasicStep::Kind::Select, dim_, v});
    shape_.erase(shape_.begin() + dim_);
    source_.erase(source_.begin() + dim_);
    indices_.erase(indices_.begin() + dim_);
  }

  void slice(const Slice& s) {
    KILN_CHECK_VALUE(s.step > 0, op_, ": slice step must be greater than zero, got ", s.step,
                     " (input shape ", shape_str(x_.shape()), ")");
    const int64_t size = shape_[size_t(dim_)];
    auto clamp = [size](int64_t v) {
      if (v < 0) v += size;
      return std::clamp<int64_t>(v, 0, size);
    };
    const int64_t start = clamp(s.start.value_or(0));
    const int64_t stop = clamp(s.stop.value_or(size));
    const int64_t length = stop > start ? (stop - start - 1) / s.step + 1 : 0;
    plan_.steps.push_back({BasicStep::Kind::Slice, dim_, start, length, s.step});
    shape_[size_t(dim_)] = length;
    ++dim_;
  }

  // A new dim of size 1, indexed by `index` when defined (a 0-d mask).
  void new_axis(const Tensor& index) {
    plan_.steps.push_back({BasicStep::Kind::Unsqueeze, dim_});
    shape_.insert(shape_.begin() + dim_, 1);
    source_.insert(source_.begin() + dim_, -1);
    indices_.insert(indices_.begin() + dim_, index);
    ++dim_;
  }

  void tensor_index(const Tensor& t, size_t position) {
    KILN_CHECK_VALUE(t.defined(), op_, ": index ", position, " is an undefined tensor");
    const DType dt = t.dtype();
    KILN_CHECK_INDEX(dt == DType::Int64 || dt == DType::Int32 || is_mask(t), op_,
                     ": tensors used as indices must be int64, int32, bool or uint8, got ",
                     describe(t), " (input shape ", shape_str(x_.shape()), ")");
    if (t.dim() == 0 && !is_mask(t)) return select(host_int64(t).data<int64_t>()[0]);
    if (t.dim() == 0) {
      // PyTorch: a new dim, indexed by [0] when true and by [] when false.
      bool truth = host_int64(t).data<int64_t>()[0] != 0;
      return new_axis(truth ? tensor(std::vector<int64_t>{0}) : empty({0}, DType::Int64));
    }
    if (is_mask(t)) return mask_index(t);
    indices_[size_t(dim_)] = checked_positions(t);
    ++dim_;
  }

  void mask_index(const Tensor& mask) {
    const int64_t k = mask.dim();
    Shape covered(shape_.begin() + dim_, shape_.begin() + dim_ + k);
    KILN_CHECK_INDEX(covered == mask.shape(), op_, ": the shape of the mask ",
                     shape_str(mask.shape()), " does not match the shape ", shape_str(covered),
                     " of the dimensions it indexes (dimensions ", source_[size_t(dim_)], " to ",
                     source_[size_t(dim_ + k - 1)], " of input shape ", shape_str(x_.shape()), ")");
    Tensor nz = nonzero(mask).to(Device::cpu());
    for (int64_t j = 0; j < k; ++j) indices_[size_t(dim_ + j)] = select_col(nz, j);
    dim_ += k;
  }

  static Tensor select_col(const Tensor& nz, int64_t j) { return contiguous(nz.select(1, j)); }

  // The values of an integer index tensor for dim_, range-checked and wrapped.
  Tensor checked_positions(const Tensor& t) {
    const int64_t size = shape_[size_t(dim_)];
    Tensor host = host_int64(t);
    Tensor out = empty(host.shape(), DType::Int64);
    const int64_t* p = host.data<int64_t>();
    int64_t* o = out.data<int64_t>();
    for (int64_t i = 0; i < host.numel(); ++i) {
      if (p[i] < -size || p[i] >= size) {
        if (range_error_.empty())
          range_error_ =
              detail::concat(op_, ": index ", p[i], " is out of range for ", where(dim_));
        o[i] = 0;  // never read: the error is raised unless the result is empty
        continue;
      }
      o[i] = p[i] < 0 ? p[i] + size : p[i];
    }
    return out;
  }

  IndexPlan finish() {
    plan_.basic_shape = shape_;
    plan_.indices = indices_;
    plan_.index_axis = -1;
    std::vector<int64_t> adv;
    for (size_t d = 0; d < indices_.size(); ++d)
      if (indices_[d].defined()) adv.push_back(int64_t(d));
    if (adv.empty()) {
      plan_.result_shape = shape_;
      return plan_;
    }
    Shape b = indices_[size_t(adv[0])].shape();
    for (int64_t d : adv) b = broadcast_index_shapes(b, indices_[size_t(d)].shape(), adv);
    plan_.index_shape = b;
    const bool adjacent = adv.back() - adv.front() + 1 == int64_t(adv.size());
    plan_.index_axis = adjacent ? adv.front() : 0;
    Shape rest;
    for (size_t d = 0; d < shape_.size(); ++d)
      if (!indices_[d].defined()) rest.push_back(shape_[d]);
    Shape result(rest.begin(), rest.begin() + plan_.index_axis);
    result.insert(result.end(), b.begin(), b.end());
    result.insert(result.end(), rest.begin() + plan_.index_axis, rest.end());
    plan_.result_shape = result;
    // Like PyTorch and NumPy, index values are only checked when some element is read.
    KILN_CHECK_INDEX(range_error_.empty() || numel_of(result) == 0, range_error_);
    return plan_;
  }

  Shape broadcast_index_shapes(const Shape& a, const Shape& b, const std::vector<int64_t>& adv) {
    Shape out(std::max(a.size(), b.size()), 1);
    for (size_t i = 0; i < out.size(); ++i) {
      int64_t sa = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
      int64_t sb = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
      if (sa == sb || sb == 1) {
        out[i] = sa;
      } else if (sa == 1) {
        out[i] = sb;
      } else {
        std::string shapes;
        for (int64_t d : adv)
          shapes += (shapes.empty() ? "" : ", ") + shape_str(indices_[size_t(d)].shape());
        KILN_CHECK_INDEX(false, op_, ": shape mismatch: index tensors of shapes ", shapes,
                         " cannot be broadcast together (input shape ", shape_str(x_.shape()), ")");
      }
    }
    return out;
  }

  const char* op_;
  const Tensor& x_;
  IndexPlan plan_;
  Shape shape_;                  // the shape after the steps so far
  std::vector<int64_t> source_;  // the dim of x each dim of shape_ comes from; -1 for new dims
  std::vector<Tensor> indices_;  // the advanced index of each dim of shape_
  int64_t dim_ = 0;              // the next dim of shape_ an index applies to
  std::string range_error_;      // the first out-of-range value of an index tensor
};

}  // namespace

IndexPlan plan_index(const char* op, const Tensor& x, const std::vector<TensorIndex>& indices) {
  check_defined(op, {&x});
  return Planner(op, x).run(indices);
}

Tensor apply_basic(const IndexPlan& plan, const Tensor& x) {
  Tensor t = x;
  for (const BasicStep& s : plan.steps) {
    switch (s.kind) {
      case BasicStep::Kind::Select:
        t = select(t, s.dim, s.start);
        break;
      case BasicStep::Kind::Slice:
        // The stop just past the last element taken (start + length * step may overflow).
        t = slice(t, s.dim, s.start, s.start + (s.length > 0 ? (s.length - 1) * s.step + 1 : 0),
                  s.step);
        break;
      case BasicStep::Kind::Unsqueeze:
        t = unsqueeze(t, s.dim);
        break;
    }
  }
  return t;
}

Geometry apply_basic(const IndexPlan& plan, Geometry g) {
  for (const BasicStep& s : plan.steps) {
    const auto d = size_t(s.dim);
    switch (s.kind) {
      case BasicStep::Kind::Select:
        g.offset += s.start * g.strides[d];
        g.shape.erase(g.shape.begin() + s.dim);
        g.strides.erase(g.strides.begin() + s.dim);
        break;
      case BasicStep::Kind::Slice:
        if (s.length > 0) g.offset += s.start * g.strides[d];
        g.shape[d] = s.length;
        g.strides[d] *= s.step;
        break;
      case BasicStep::Kind::Unsqueeze:
        g.shape.insert(g.shape.begin() + s.dim, 1);
        g.strides.insert(g.strides.begin() + s.dim, 0);
        break;
    }
  }
  return g;
}

Tensor result_offsets(const IndexPlan& plan, const Geometry& base, Device device) {
  NoGradGuard no_grad;
  const Geometry g = apply_basic(plan, base);
  const Shape& result = plan.result_shape;
  const size_t rank = result.size();
  const auto nb = int64_t(plan.index_shape.size());
  // `t` (of rank <= count) as a tensor of the result's rank, its dims right-aligned in
  // [axis, axis + count), so that adding it broadcasts over the other dims.
  auto place = [&](const Tensor& t, int64_t axis, int64_t count) {
    Shape s(rank, 1);
    for (int64_t j = 0; j < t.dim(); ++j) s[size_t(axis + count - t.dim() + j)] = t.size(j);
    return reshape(t, s);
  };
  Tensor pos = full(Shape(rank, 1), g.offset, DType::Int64);
  int64_t axis = 0;
  for (size_t d = 0; d < g.shape.size(); ++d) {
    const Tensor& index = plan.indices[d];
    if (index.defined()) {
      pos = pos + place(index * g.strides[d], plan.index_axis, nb);
      continue;
    }
    if (axis == plan.index_axis) axis += nb;
    Tensor along = arange(double(g.shape[d]), DType::Int64) * g.strides[d];
    pos = pos + place(along, axis++, 1);
  }
  return contiguous(expand(pos, result)).to(device);
}

}  // namespace kiln
