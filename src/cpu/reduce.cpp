// Reduction kernels: sum / prod / amax / amin over a set of dims, and max / min with indices
// along one dim. Inputs may have any strides (including the stride-0 dims of expanded views).
//
// Accumulation: floating sums and products in double, integer ones in int64 (wrapping like
// two's complement, as PyTorch does); amax/amin compare exactly and propagate NaN.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

#include "cpu/dispatch.h"
#include "cpu/kernels.h"
#include "cpu/loop.h"

namespace kiln::cpu {
namespace {

// Index arrays live on the stack so that nothing inside an OpenMP region can throw.
constexpr size_t kMaxDims = 64;
// Outputs computed together along a dim that is contiguous in the input (see Lanes below).
constexpr int64_t kLanes = 64;

template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <class T>
double to_double(T v) {
  if constexpr (is_half_v<T>)
    return double(float(v));
  else
    return double(v);
}

template <class T>
T from_double(double v) {
  if constexpr (is_half_v<T>)
    return T(float(v));
  else
    return T(v);
}

template <class T>
bool is_nan(T v) {
  if constexpr (is_float_type_v<T>)
    return std::isnan(to_double(v));
  else
    return false;
}

// One reduction: an accumulator type, its identity, how an element enters it, how two partial
// results combine, and how the result is stored.
template <class T>
struct SumOp {
  using Acc = std::conditional_t<is_float_type_v<T>, double, int64_t>;
  static Acc init() { return Acc(0); }
  static Acc combine(Acc a, Acc b) {
    if constexpr (is_float_type_v<T>)
      return a + b;
    else
      return int64_t(uint64_t(a) + uint64_t(b));  // wraps instead of overflowing (UB)
  }
  static Acc load(T v) {
    if constexpr (is_float_type_v<T>)
      return to_double(v);
    else
      return int64_t(v);
  }
  static T store(Acc a) {
    if constexpr (std::is_same_v<T, bool>)
      return a != 0;
    else if constexpr (is_float_type_v<T>)
      return from_double<T>(a);
    else
      return T(a);
  }
};

template <class T>
struct ProdOp {
  using Acc = std::conditional_t<is_float_type_v<T>, double, int64_t>;
  static Acc init() { return Acc(1); }
  static Acc combine(Acc a, Acc b) {
    if constexpr (is_float_type_v<T>)
      return a * b;
    else
      return int64_t(uint64_t(a) * uint64_t(b));
  }
  static Acc load(T v) { return SumOp<T>::load(v); }
  static T store(Acc a) { return SumOp<T>::store(a); }
};

// amax (kMax) / amin: the first NaN met is kept (a NaN accumulator never compares greater).
template <class T, bool kMax>
struct ExtremumOp {
  using Acc = std::conditional_t<is_float_type_v<T>, double, int64_t>;
  static Acc init() {
    if constexpr (is_float_type_v<T>)
      return kMax ? -std::numeric_limits<double>::infinity()
                  : std::numeric_limits<double>::infinity();
    else
      return kMax ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  }
  static Acc combine(Acc a, Acc b) {
    if constexpr (is_float_type_v<T>) {
      if (std::isnan(b)) return std::isnan(a) ? a : b;
    }
    return (kMax ? b > a : b < a) ? b : a;
  }
  static Acc load(T v) { return SumOp<T>::load(v); }
  static T store(Acc a) { return SumOp<T>::store(a); }
};

// The input seen as kept dims (one output element per index) and reduced dims, in elements.
// Size-1 dims are dropped; reduced dims are ordered by decreasing stride and merged where they
// walk memory as one, so the innermost loop runs over the smallest stride.
struct Geometry {
  std::vector<int64_t> k_size, k_xstride, k_ostride;  // kept dims, row-major order
  std::vector<int64_t> r_size, r_stride;              // reduced dims, innermost last
  int64_t out_numel = 1, red_numel = 1;
};

Geometry make_geometry(const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) {
  const int64_t nd = x.dim();
  KILN_CHECK(size_t(nd) <= kMaxDims, "reduce: tensors of more than ", kMaxDims,
             " dimensions are not supported (shape ", shape_str(x.shape()), ")");
  KILN_CHECK(out.dim() == nd, "reduce: output rank ", out.dim(), " does not match input shape ",
             shape_str(x.shape()));
  Geometry g;
  std::vector<bool> reduced(size_t(nd), false);
  for (int64_t d : dims) {
    KILN_CHECK(d >= 0 && d < nd, "reduce: dim ", d, " out of range for shape ",
               shape_str(x.shape()));
    reduced[size_t(d)] = true;
  }
  std::vector<std::pair<int64_t, int64_t>> red;  // (size, stride)
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t size = x.shape()[size_t(d)];
    if (reduced[size_t(d)]) {
      g.red_numel *= size;
      if (size != 1) red.emplace_back(size, x.strides()[size_t(d)]);
    } else {
      g.out_numel *= size;
      if (size == 1) continue;
      g.k_size.push_back(size);
      g.k_xstride.push_back(x.strides()[size_t(d)]);
      g.k_ostride.push_back(out.strides()[size_t(d)]);
    }
  }
  std::stable_sort(red.begin(), red.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (size_t d = red.size(); d-- > 1;) {
    if (red[d - 1].second != red[d].second * red[d].first) continue;
    red[d - 1] = {red[d - 1].first * red[d].first, red[d].second};
    red.erase(red.begin() + int64_t(d));
  }
  if (red.empty()) red.emplace_back(1, 0);  // reducing only size-1 dims: one element
  for (auto [size, stride] : red) {
    g.r_size.push_back(size);
    g.r_stride.push_back(stride);
  }
  return g;
}

// Offsets in x and out of kept index `o` (row-major over the kept dims, the first `nk` of them).
inline void kept_offsets(const Geometry& g, size_t nk, int64_t o, int64_t& xoff, int64_t& ooff) {
  xoff = 0;
  ooff = 0;
  for (size_t k = nk; k-- > 0;) {
    const int64_t i = o % g.k_size[k];
    o /= g.k_size[k];
    xoff += i * g.k_xstride[k];
    ooff += i * g.k_ostride[k];
  }
}

// Reduces rows [row_begin, row_end) of one output's reduced block starting at `base`; a row is
// one run of the innermost reduced dim.
template <class Op, class T>
typename Op::Acc reduce_rows(const T* base, const Geometry& g, int64_t row_begin, int64_t row_end) {
  using Acc = typename Op::Acc;
  const size_t nr = g.r_size.size();
  const int64_t inner_n = g.r_size[nr - 1], inner_s = g.r_stride[nr - 1];
  std::array<int64_t, kMaxDims> idx{};
  int64_t off = 0, r = row_begin;
  for (size_t d = nr - 1; d-- > 0;) {
    idx[d] = r % g.r_size[d];
    r /= g.r_size[d];
    off += idx[d] * g.r_stride[d];
  }
  Acc acc = Op::init();
  for (int64_t row = row_begin; row < row_end; ++row) {
    const T* p = base + off;
    if (inner_s == 1) {
      for (int64_t i = 0; i < inner_n; ++i) acc = Op::combine(acc, Op::load(p[i]));
    } else {
      for (int64_t i = 0; i < inner_n; ++i) acc = Op::combine(acc, Op::load(p[i * inner_s]));
    }
    for (size_t d = nr - 1; d-- > 0;) {  // odometer over the outer reduced dims
      off += g.r_stride[d];
      if (++idx[d] < g.r_size[d]) break;
      off -= g.r_stride[d] * g.r_size[d];
      idx[d] = 0;
    }
  }
  return acc;
}

template <class Op, class T>
void run_reduce(const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) {
  using Acc = typename Op::Acc;
  if (out.numel() == 0) return;
  const Geometry g = make_geometry(x, dims, out);
  T* o = out.data<T>();
  if (g.red_numel == 0) {  // empty reduction: the identity everywhere
    const T v = Op::store(Op::init());
    const size_t nk = g.k_size.size();
    for (int64_t i = 0; i < g.out_numel; ++i) {
      int64_t xoff, ooff;
      kept_offsets(g, nk, i, xoff, ooff);
      o[ooff] = v;
    }
    return;
  }
  const T* xp = x.data<T>();
  const int64_t total = g.out_numel * g.red_numel;
  const bool parallel = total >= kParallelGrain;
  const size_t nr = g.r_size.size();
  const int64_t rows = g.red_numel / g.r_size[nr - 1];

  // Lanes: when the innermost kept dim steps through memory faster than every reduced dim (the
  // sum over the batch of a [B, C] tensor), outputs along it are accumulated together so the
  // inner loop reads memory in order.
  const size_t nk = g.k_size.size();
  if (nk > 0 && g.k_xstride[nk - 1] < g.r_stride[nr - 1] && g.k_size[nk - 1] > 1) {
    const int64_t lane_n = g.k_size[nk - 1], lane_xs = g.k_xstride[nk - 1],
                  lane_os = g.k_ostride[nk - 1];
    const int64_t outer = g.out_numel / lane_n;
    const int64_t chunks = (lane_n + kLanes - 1) / kLanes;
    const int64_t inner_n = g.r_size[nr - 1], inner_s = g.r_stride[nr - 1];
#pragma omp parallel for if (parallel) schedule(static)
    for (int64_t item = 0; item < outer * chunks; ++item) {
      const int64_t ob = item / chunks, start = (item % chunks) * kLanes;
      const int64_t n = std::min(kLanes, lane_n - start);
      int64_t xoff, ooff;
      kept_offsets(g, nk - 1, ob, xoff, ooff);
      xoff += start * lane_xs;
      ooff += start * lane_os;
      std::array<Acc, kLanes> acc;
      acc.fill(Op::init());
      std::array<int64_t, kMaxDims> idx{};
      int64_t off = 0;
      for (int64_t row = 0; row < rows; ++row) {
        for (int64_t i = 0; i < inner_n; ++i) {
          const T* p = xp + xoff + off + i * inner_s;
          for (int64_t l = 0; l < n; ++l)
            acc[size_t(l)] = Op::combine(acc[size_t(l)], Op::load(p[l * lane_xs]));
        }
        for (size_t d = nr - 1; d-- > 0;) {
          off += g.r_stride[d];
          if (++idx[d] < g.r_size[d]) break;
          off -= g.r_stride[d] * g.r_size[d];
          idx[d] = 0;
        }
      }
      for (int64_t l = 0; l < n; ++l) o[ooff + l * lane_os] = Op::store(acc[size_t(l)]);
    }
    return;
  }

  // Few outputs over many elements (a full sum): split each output's rows into a number of
  // parts that depends only on the sizes, so the result does not depend on the thread count.
  int64_t splits = 1;
  if (g.out_numel < 16 && g.red_numel >= 2 * kParallelGrain)
    splits = std::clamp<int64_t>(g.red_numel / kParallelGrain, 1, std::min<int64_t>(rows, 256));
  if (splits > 1) {
    std::vector<Acc> partial(size_t(g.out_numel * splits));
#pragma omp parallel for schedule(static)
    for (int64_t item = 0; item < g.out_numel * splits; ++item) {
      const int64_t i = item / splits, s = item % splits;
      int64_t xoff, ooff;
      kept_offsets(g, nk, i, xoff, ooff);
      partial[size_t(item)] =
          reduce_rows<Op, T>(xp + xoff, g, rows * s / splits, rows * (s + 1) / splits);
    }
    for (int64_t i = 0; i < g.out_numel; ++i) {
      Acc acc = partial[size_t(i * splits)];
      for (int64_t s = 1; s < splits; ++s) acc = Op::combine(acc, partial[size_t(i * splits + s)]);
      int64_t xoff, ooff;
      kept_offsets(g, nk, i, xoff, ooff);
      o[ooff] = Op::store(acc);
    }
    return;
  }

#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t i = 0; i < g.out_numel; ++i) {
    int64_t xoff, ooff;
    kept_offsets(g, nk, i, xoff, ooff);
    o[ooff] = Op::store(reduce_rows<Op, T>(xp + xoff, g, 0, rows));
  }
}

}  // namespace

void reduce(OpId op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) {
  KILN_CHECK(x.dtype() == out.dtype(), op_name(op), ": reduce kernel expects the output dtype ",
             dtype_name(out.dtype()), " to match the input's ", dtype_name(x.dtype()));
  KILN_CHECK(!dims.empty(), op_name(op), ": reduce kernel needs at least one dim");
  dispatch_all(x.dtype(), [&]<class T>() {
    switch (op) {
      case OpId::Sum:
        return run_reduce<SumOp<T>, T>(x, dims, out);
      case OpId::Prod:
        return run_reduce<ProdOp<T>, T>(x, dims, out);
      case OpId::Amax:
        return run_reduce<ExtremumOp<T, true>, T>(x, dims, out);
      case OpId::Amin:
        return run_reduce<ExtremumOp<T, false>, T>(x, dims, out);
      default:
        throw Error(detail::concat(op_name(op), ": no CPU reduce kernel"));
    }
  });
}

void arg_reduce(OpId op, const Tensor& x, int64_t dim, const Tensor& values,
                const Tensor& indices) {
  KILN_CHECK(op == OpId::MaxDim || op == OpId::MinDim, op_name(op), ": no CPU arg_reduce kernel");
  KILN_CHECK(indices.dtype() == DType::Int64 && values.dtype() == x.dtype(), op_name(op),
             ": arg_reduce expects int64 indices and values of the input's dtype");
  KILN_CHECK(dim >= 0 && dim < x.dim(), op_name(op), ": dim ", dim, " out of range for shape ",
             shape_str(x.shape()));
  if (values.numel() == 0) return;
  const int64_t n = x.shape()[size_t(dim)];
  KILN_CHECK(n > 0, op_name(op), ": cannot reduce over a dimension of size 0 (shape ",
             shape_str(x.shape()), ")");
  const int64_t xs = x.strides()[size_t(dim)];
  // Kept dims with their strides in x, values and indices.
  std::vector<int64_t> size, sx, sv, si;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == dim || x.shape()[size_t(d)] == 1) continue;
    size.push_back(x.shape()[size_t(d)]);
    sx.push_back(x.strides()[size_t(d)]);
    sv.push_back(values.strides()[size_t(d)]);
    si.push_back(indices.strides()[size_t(d)]);
  }
  const int64_t outputs = values.numel();
  const bool is_max = op == OpId::MaxDim;
  const bool parallel = outputs * n >= kParallelGrain;
  dispatch_all(x.dtype(), [&]<class T>() {
    using A = acc_t<T>;
    const T* xp = x.data<T>();
    T* vp = values.data<T>();
    int64_t* ip = indices.data<int64_t>();
#pragma omp parallel for if (parallel) schedule(static)
    for (int64_t o = 0; o < outputs; ++o) {
      int64_t xoff = 0, voff = 0, ioff = 0, rem = o;
      for (size_t k = size.size(); k-- > 0;) {
        const int64_t i = rem % size[k];
        rem /= size[k];
        xoff += i * sx[k];
        voff += i * sv[k];
        ioff += i * si[k];
      }
      const T* p = xp + xoff;
      A best = A(p[0]);
      int64_t best_i = 0;
      if (!is_nan(best)) {
        for (int64_t k = 1; k < n; ++k) {
          const A v = A(p[k * xs]);
          if (is_nan(v)) {  // NaN wins, at its first index
            best = v;
            best_i = k;
            break;
          }
          if (is_max ? v > best : v < best) {
            best = v;
            best_i = k;
          }
        }
      }
      vp[voff] = T(best);
      ip[ioff] = best_i;
    }
  });
}

}  // namespace kiln::cpu
