// Convolution on CUDA through cuDNN's legacy API. The CPU reference is src/cpu/conv.cpp; the
// semantics are the Backend contract's (src/backend/backend.h):
//   forward          y  = conv(x, w)                 cudnnConvolutionForward
//   backward data    dx = conv_transpose(dy, w)      cudnnConvolutionBackwardData
//   backward weight  dw = correlation of x with dy   cudnnConvolutionBackwardFilter
// over 1 (as 2-D with a unit height), 2 or 3 spatial dims, with groups
// (cudnnSetConvolutionGroupCount), in float32, float64, float16 and bfloat16 (the half types
// compute in float32: cuDNN's "pseudo half" configuration).
//
// Layout (cudnn/layout.h): the problem runs in NCHW or NHWC as its result is laid out (float64
// always in NCHW); operands not dense in that layout (or not 16-byte aligned) are copied to
// dense ones, and a result that is not is written through a dense scratch tensor and copied.
// Channels-last float16/bfloat16 problems are the ones cuDNN runs on tensor cores without
// transposing.
//
// Algorithms: chosen once per problem (cudnn/layout.h's ConvProblem: device, dtype, layout,
// shapes, geometry, math type and the deterministic / benchmark switches) and cached. By default
// cuDNN's heuristics rank them (cudnnGet*Algorithm_v7) and the first one that is allowed and
// whose workspace can be allocated wins; with kiln::cuda::cudnn_benchmark() they are timed
// (cudnnFind*AlgorithmEx) once per problem. float32 uses TF32 tensor cores only when
// kiln::cuda::cudnn_allow_tf32() is on (CUDNN_FMA_MATH otherwise). Workspaces come from the
// stream-ordered pool and are freed right after the call, on the same stream.
//
// Tensors of 2^31 elements or more (cuDNN indexes with int) are split along the batch; the
// weight gradient then accumulates over the pieces (beta = 1).
#include <algorithm>
#include <map>
#include <mutex>
#include <numeric>
#include <vector>

#include "common/check.h"
#include "core/tensor_impl.h"
#include "cudnn/conv.h"
#include "cudnn/descriptors.h"
#include "cudnn/handle.h"
#include "cudnn/layout.h"
#include "kernels/kernels.h"
#include "kiln/cuda.h"
#include "kiln/ops.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace kiln::cuda {
namespace cudnn {
namespace {

const char* kind_name(ConvKind kind) {
  switch (kind) {
    case ConvKind::Forward:
      return "convolution";
    case ConvKind::BackwardData:
      return "convolution_backward_input";
    case ConvKind::BackwardFilter:
      return "convolution_backward_weight";
  }
  return "convolution";
}

// ---- the algorithm cache ----

struct CachedAlgo {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

struct Cache {
  std::mutex mutex;
  std::map<ConvKey, CachedAlgo> entries;
  int64_t hits = 0, misses = 0;
};
Cache& cache() {
  static Cache& c = *new Cache();  // never destroyed, like the handles (handle.h)
  return c;
}
// Real programs use a handful of shapes; a program sweeping shapes must not grow it forever.
constexpr size_t kMaxCachedAlgos = 4096;

// ---- one call's descriptors and pointers ----

struct Call {
  ConvProblem problem;
  DType dtype = DType::Float32;
  cudnnHandle_t handle = nullptr;
  TensorDescriptor x, y;
  FilterDescriptor w;
  ConvolutionDescriptor conv;
  void* x_ptr = nullptr;  // x or dx
  void* w_ptr = nullptr;  // w or dw
  void* y_ptr = nullptr;  // y or dy
  explicit Call(const char* op) : x(op), y(op), w(op), conv(op) {}
};

// What the three kinds' perf structs have in common.
struct Perf {
  int algo = 0;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  cudnnDeterminism_t determinism = CUDNN_NON_DETERMINISTIC;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

// Runs `query(requested, &returned, results)` into a vector of cuDNN's perf type and converts.
template <class PerfT, class Query>
std::vector<Perf> collect(int requested, Query query) {
  std::vector<PerfT> raw(size_t(std::max(requested, 1)));
  int returned = 0;
  query(int(raw.size()), &returned, raw.data());
  std::vector<Perf> out;
  for (int i = 0; i < returned; ++i) {
    const PerfT& p = raw[size_t(i)];
    out.push_back(Perf{int(p.algo), p.status, p.determinism, p.mathType});
  }
  return out;
}

int algo_count(const Call& c, const char* op) {
  int n = 0;
  switch (c.problem.kind) {
    case ConvKind::Forward:
      KILN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(c.handle, &n), op);
      break;
    case ConvKind::BackwardData:
      KILN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(c.handle, &n), op);
      break;
    case ConvKind::BackwardFilter:
      KILN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(c.handle, &n), op);
      break;
  }
  return n;
}

// cuDNN's heuristic ranking, best first.
std::vector<Perf> heuristics(const Call& c, const char* op) {
  const int n = algo_count(c, op);
  switch (c.problem.kind) {
    case ConvKind::Forward:
      return collect<cudnnConvolutionFwdAlgoPerf_t>(n, [&](int req, int* got, auto* r) {
        KILN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
                             c.handle, c.x.get(), c.w.get(), c.conv.get(), c.y.get(), req, got, r),
                         op);
      });
    case ConvKind::BackwardData:
      return collect<cudnnConvolutionBwdDataAlgoPerf_t>(n, [&](int req, int* got, auto* r) {
        KILN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
                             c.handle, c.w.get(), c.y.get(), c.conv.get(), c.x.get(), req, got, r),
                         op);
      });
    case ConvKind::BackwardFilter:
      return collect<cudnnConvolutionBwdFilterAlgoPerf_t>(n, [&](int req, int* got, auto* r) {
        KILN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                             c.handle, c.x.get(), c.y.get(), c.conv.get(), c.w.get(), req, got, r),
                         op);
      });
  }
  return {};
}

// The workspace `algo` needs with the descriptor's current math type; not SUCCESS when the
// algorithm does not take this problem.
cudnnStatus_t workspace_size(const Call& c, int algo, size_t* bytes) {
  switch (c.problem.kind) {
    case ConvKind::Forward:
      return cudnnGetConvolutionForwardWorkspaceSize(c.handle, c.x.get(), c.w.get(), c.conv.get(),
                                                     c.y.get(), cudnnConvolutionFwdAlgo_t(algo),
                                                     bytes);
    case ConvKind::BackwardData:
      return cudnnGetConvolutionBackwardDataWorkspaceSize(
          c.handle, c.w.get(), c.y.get(), c.conv.get(), c.x.get(),
          cudnnConvolutionBwdDataAlgo_t(algo), bytes);
    case ConvKind::BackwardFilter:
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(
          c.handle, c.x.get(), c.y.get(), c.conv.get(), c.w.get(),
          cudnnConvolutionBwdFilterAlgo_t(algo), bytes);
  }
  return CUDNN_STATUS_BAD_PARAM;
}

int algo_enum_count(ConvKind kind) {
  switch (kind) {
    case ConvKind::Forward:
      return CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    case ConvKind::BackwardData:
      return CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    case ConvKind::BackwardFilter:
      return CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  }
  return 0;
}

// cuDNN's timing of every algorithm on the call's own tensors (the result is overwritten, and
// written again by the real call), fastest first. The workspace is the largest any algorithm
// asks for, or the largest of those sizes the pool can give.
std::vector<Perf> benchmark(const Call& c, int device, const char* op) {
  std::vector<size_t> sizes{0};
  for (int a = 0; a < algo_enum_count(c.problem.kind); ++a) {
    size_t bytes = 0;
    if (workspace_size(c, a, &bytes) == CUDNN_STATUS_SUCCESS) sizes.push_back(bytes);
  }
  std::sort(sizes.rbegin(), sizes.rend());
  void* ws = nullptr;
  size_t ws_bytes = 0;
  for (size_t bytes : sizes) {
    if (bytes == 0) break;
    try {
      ws = raw_allocate(bytes, device, op);
      ws_bytes = bytes;
      break;
    } catch (const OutOfMemoryError&) {
      // a smaller workspace still times the algorithms that fit in it
    }
  }
  struct Free {
    void* p;
    int d;
    ~Free() {
      if (p != nullptr) raw_free(p, d);
    }
  } free_ws{ws, device};
  const int n = algo_count(c, op);
  switch (c.problem.kind) {
    case ConvKind::Forward:
      return collect<cudnnConvolutionFwdAlgoPerf_t>(n, [&](int req, int* got, auto* r) {
        KILN_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
                             c.handle, c.x.get(), c.x_ptr, c.w.get(), c.w_ptr, c.conv.get(),
                             c.y.get(), c.y_ptr, req, got, r, ws, ws_bytes),
                         op);
      });
    case ConvKind::BackwardData:
      return collect<cudnnConvolutionBwdDataAlgoPerf_t>(n, [&](int req, int* got, auto* r) {
        KILN_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
                             c.handle, c.w.get(), c.w_ptr, c.y.get(), c.y_ptr, c.conv.get(),
                             c.x.get(), c.x_ptr, req, got, r, ws, ws_bytes),
                         op);
      });
    case ConvKind::BackwardFilter:
      return collect<cudnnConvolutionBwdFilterAlgoPerf_t>(n, [&](int req, int* got, auto* r) {
        KILN_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                             c.handle, c.x.get(), c.x_ptr, c.y.get(), c.y_ptr, c.conv.get(),
                             c.w.get(), c.w_ptr, req, got, r, ws, ws_bytes),
                         op);
      });
  }
  return {};
}

bool is_tensor_op(cudnnMathType_t m) {
  return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// The math type the descriptor asks for: tensor cores for the half types; for float32 TF32
// only when allowed (CUDNN_DEFAULT_MATH lets cuDNN use it on Ampere and later, CUDNN_FMA_MATH
// excludes it); float64 has no choice.
cudnnMathType_t requested_math(DType t) {
  if (t == DType::Float16 || t == DType::BFloat16) return CUDNN_TENSOR_OP_MATH;
  if (t == DType::Float32) return cudnn_allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  return CUDNN_DEFAULT_MATH;
}

// The cached choice for the call's problem, choosing (and caching) it first if needed. The
// descriptor's math type is left at the chosen one.
CachedAlgo choose(Call& c, int device, const char* op) {
  const ConvKey key = conv_key(c.problem);
  {
    Cache& k = cache();
    std::lock_guard<std::mutex> lock(k.mutex);
    auto it = k.entries.find(key);
    if (it != k.entries.end()) {
      ++k.hits;
      c.conv.set_math(it->second.math);
      return it->second;
    }
  }
  const std::vector<Perf> ranked =
      c.problem.benchmark ? benchmark(c, device, op) : heuristics(c, op);
  const bool fma_only = c.dtype == DType::Float32 && c.problem.math == CUDNN_FMA_MATH;
  for (const Perf& p : ranked) {
    if (p.status != CUDNN_STATUS_SUCCESS) continue;
    if (c.problem.deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
    // float32 without TF32 keeps CUDNN_FMA_MATH whatever cuDNN reports, and skips the
    // algorithms it ranked for tensor cores.
    if (fma_only && is_tensor_op(p.math)) continue;
    const cudnnMathType_t math = fma_only ? CUDNN_FMA_MATH : p.math;
    c.conv.set_math(math);
    size_t bytes = 0;
    if (workspace_size(c, p.algo, &bytes) != CUDNN_STATUS_SUCCESS) continue;
    if (bytes > 0) {
      try {
        raw_free(raw_allocate(bytes, device, op), device);
      } catch (const OutOfMemoryError&) {
        continue;  // the next algorithm may need less
      }
    }
    const CachedAlgo chosen{p.algo, math, bytes};
    Cache& k = cache();
    std::lock_guard<std::mutex> lock(k.mutex);
    ++k.misses;
    if (k.entries.size() >= kMaxCachedAlgos) k.entries.clear();
    k.entries[key] = chosen;
    return chosen;
  }
  throw Error(::kiln::detail::concat(
      op, ": cuDNN has no ", c.problem.deterministic ? "deterministic " : "", "algorithm for this ",
      dtype_name(c.dtype), " problem (x ",
      shape_str(Shape(c.problem.x.begin(), c.problem.x.begin() + c.problem.nd)), ", w ",
      shape_str(Shape(c.problem.w.begin(), c.problem.w.begin() + c.problem.nd)), ", y ",
      shape_str(Shape(c.problem.y.begin(), c.problem.y.begin() + c.problem.nd)), ", groups ",
      c.problem.groups, ") that fits in memory"));
}

void execute(const Call& c, const CachedAlgo& a, void* ws, bool accumulate, const char* op) {
  const bool f64 = c.dtype == DType::Float64;
  const float one_f = 1.0f, beta_f = accumulate ? 1.0f : 0.0f;
  const double one_d = 1.0, beta_d = accumulate ? 1.0 : 0.0;
  const void* alpha = f64 ? static_cast<const void*>(&one_d) : &one_f;
  const void* beta = f64 ? static_cast<const void*>(&beta_d) : &beta_f;
  switch (c.problem.kind) {
    case ConvKind::Forward:
      KILN_CUDNN_CHECK(
          cudnnConvolutionForward(c.handle, alpha, c.x.get(), c.x_ptr, c.w.get(), c.w_ptr,
                                  c.conv.get(), cudnnConvolutionFwdAlgo_t(a.algo), ws, a.workspace,
                                  beta, c.y.get(), c.y_ptr),
          op);
      break;
    case ConvKind::BackwardData:
      KILN_CUDNN_CHECK(
          cudnnConvolutionBackwardData(c.handle, alpha, c.w.get(), c.w_ptr, c.y.get(), c.y_ptr,
                                       c.conv.get(), cudnnConvolutionBwdDataAlgo_t(a.algo), ws,
                                       a.workspace, beta, c.x.get(), c.x_ptr),
          op);
      break;
    case ConvKind::BackwardFilter:
      KILN_CUDNN_CHECK(
          cudnnConvolutionBackwardFilter(c.handle, alpha, c.x.get(), c.x_ptr, c.y.get(), c.y_ptr,
                                         c.conv.get(), cudnnConvolutionBwdFilterAlgo_t(a.algo), ws,
                                         a.workspace, beta, c.w.get(), c.w_ptr),
          op);
      break;
  }
}

// ---- operands ----

constexpr uintptr_t kAlignment = 16;  // what cuDNN's vectorised kernels may assume

// An uninitialised tensor of `like`'s shape, dtype and device, dense in `layout`.
Tensor empty_dense(const Tensor& like, const TensorDims& d, Layout layout, int spatial) {
  const std::array<int64_t, 5> packed = packed_strides(d, layout);
  Shape strides(size_t(like.dim()));
  for (int64_t i = 0; i < like.dim(); ++i)
    strides[size_t(i)] = packed[size_t(conv_dim_index(spatial, int(i)))];
  Tensor flat = kiln::empty({like.numel()}, TensorOptions(like.dtype(), like.device()));
  return make_view(flat, like.shape(), strides, 0);
}

// `t` as cuDNN takes it: itself when dense in `layout` and aligned, else a dense tensor (for
// an input, a copy of `t`; for a result, scratch that `finish` copies into `t`).
Tensor as_operand(const Tensor& t, const TensorDims& d, Layout layout, int spatial, bool input) {
  if (is_dense(d, layout) && reinterpret_cast<uintptr_t>(t.data_ptr()) % kAlignment == 0) return t;
  Tensor dense = empty_dense(t, d, layout, spatial);
  if (input) cuda::copy(t, dense);
  return dense;
}

int64_t sample_numel(const Tensor& t) { return t.size(0) == 0 ? 0 : t.numel() / t.size(0); }

// Samples per cuDNN call: all of them unless x or y reach 2^31 elements; then the most that
// stay below it while keeping every piece's start 16-byte aligned.
int64_t batch_chunk(const Tensor& x, const Tensor& y, const char* op) {
  constexpr int64_t kMax = int64_t(0x7fffffff);
  const int64_t per = std::max(sample_numel(x), sample_numel(y));
  const int64_t n = x.size(0);
  if (per * n < kMax) return std::max<int64_t>(n, 1);
  KILN_CHECK(per < kMax, op, ": cuDNN indexes with 32-bit integers and one sample of ",
             shape_str(x.shape()), " / ", shape_str(y.shape()),
             " has 2^31 elements or more; split the input spatially");
  int64_t chunk = kMax / per;
  const int64_t esize = int64_t(element_size(x.dtype()));
  // Every chunk start n0 * sample_bytes must be a multiple of kAlignment for x and y.
  int64_t step = 1;
  for (int64_t bytes : {sample_numel(x) * esize, sample_numel(y) * esize}) {
    const int64_t need = int64_t(kAlignment) / std::gcd(bytes, int64_t(kAlignment));
    step = std::lcm(step, need);
  }
  chunk = std::max<int64_t>(chunk / step * step, step);
  KILN_CHECK(chunk * per < kMax, op, ": cannot split a batch of ", shape_str(x.shape()),
             " into aligned pieces below 2^31 elements");
  return chunk;
}

void check_args(ConvKind kind, const Tensor& x, const Tensor& w, const Tensor& y,
                const ConvGeometry& g) {
  const char* op = kind_name(kind);
  KILN_CHECK(x.defined() && w.defined() && y.defined(), op, ": undefined tensor");
  KILN_CHECK(g.spatial >= 1 && g.spatial <= 3 && x.dim() == g.spatial + 2 &&
                 w.dim() == g.spatial + 2 && y.dim() == g.spatial + 2,
             op, ": expected ", g.spatial + 2, "-D tensors for ", g.spatial,
             " spatial dims, got x ", shape_str(x.shape()), ", w ", shape_str(w.shape()), " and y ",
             shape_str(y.shape()));
  KILN_CHECK(x.dtype() == w.dtype() && x.dtype() == y.dtype() && is_floating(x.dtype()), op,
             ": expected one floating dtype, got ", dtype_name(x.dtype()), ", ",
             dtype_name(w.dtype()), " and ", dtype_name(y.dtype()));
  const Device device = y.device();
  KILN_CHECK(device.is_cuda() && x.device() == device && w.device() == device, op,
             ": expected every tensor on one CUDA device, got ", x.device().str(), ", ",
             w.device().str(), " and ", y.device().str());
  bool ok = g.groups >= 1 && x.size(0) == y.size(0) && w.size(0) == y.size(1) &&
            x.size(1) == w.size(1) * g.groups && w.size(0) % g.groups == 0;
  for (int i = 0; ok && i < g.spatial; ++i) {
    const size_t s = size_t(i);
    const int64_t k = w.size(2 + i), in = x.size(2 + i), out = y.size(2 + i);
    ok = g.stride[s] >= 1 && g.dilation[s] >= 1 && g.padding[s] >= 0 &&
         out == (in + 2 * g.padding[s] - g.dilation[s] * (k - 1) - 1) / g.stride[s] + 1;
  }
  KILN_CHECK(ok, op, ": inconsistent shapes x ", shape_str(x.shape()), ", w ", shape_str(w.shape()),
             ", y ", shape_str(y.shape()), " for groups=", g.groups);
}

// The convolution's stride, padding and dilation in cuDNN's spatial dims.
void set_geometry(ConvProblem& p, const ConvGeometry& g) {
  p.padding = {0, 0, 0};
  p.stride = {1, 1, 1};
  p.dilation = {1, 1, 1};
  for (int i = 0; i < g.spatial; ++i) {
    const size_t j = size_t(conv_dim_index(g.spatial, i + 2) - 2), s = size_t(i);
    p.padding[j] = g.padding[s];
    p.stride[j] = g.stride[s];
    p.dilation[j] = g.dilation[s];
  }
  p.groups = g.groups;
}

// x/dx, w/dw and y/dy for `kind`; the result is the one `kind` writes.
void run(ConvKind kind, const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g) {
  const char* op = kind_name(kind);
  check_args(kind, x, w, y, g);
  const Tensor& result = kind == ConvKind::Forward ? y : (kind == ConvKind::BackwardData ? x : w);
  if (result.numel() == 0) return;
  const int device = result.device().index;
  DeviceGuard guard(device);
  if (x.numel() == 0 || w.numel() == 0 || y.numel() == 0) {
    cuda::fill(result, Scalar(0));  // no term reaches the result: an empty sum
    return;
  }
  KILN_CHECK(cudnn_enabled(), op,
             ": cuDNN is disabled (kiln::cuda::set_cudnn_enabled(false), "
             "kiln.backends.cudnn.enabled = False) and CUDA has no other convolution kernel");

  const int spatial = g.spatial;
  const TensorDims xd = conv_dims(x.shape(), x.strides(), spatial);
  const TensorDims wd = conv_dims(w.shape(), w.strides(), spatial);
  const TensorDims yd = conv_dims(y.shape(), y.strides(), spatial);
  const TensorDims& rd =
      kind == ConvKind::Forward ? yd : (kind == ConvKind::BackwardData ? xd : wd);
  // float64 always runs in NCHW: cuDNN's NHWC kernels are for the float types (torch's
  // cudnn_conv_suggest_memory_format makes the same exception).
  const Layout layout = x.dtype() == DType::Float64      ? Layout::NCHW
                        : kind == ConvKind::Forward      ? choose_layout(rd, {&xd, &wd})
                        : kind == ConvKind::BackwardData ? choose_layout(rd, {&yd, &wd})
                                                         : choose_layout(rd, {&xd, &yd});
  const Tensor xs = as_operand(x, xd, layout, spatial, kind != ConvKind::BackwardData);
  const Tensor ws = as_operand(w, wd, layout, spatial, kind != ConvKind::BackwardFilter);
  const Tensor ys = as_operand(y, yd, layout, spatial, kind != ConvKind::Forward);
  const Tensor& rs = kind == ConvKind::Forward ? ys : (kind == ConvKind::BackwardData ? xs : ws);

  Call c(op);
  c.dtype = x.dtype();
  c.handle = handle(device, op);
  c.problem.kind = kind;
  c.problem.device = device;
  c.problem.dtype = int(c.dtype);
  c.problem.layout = layout;
  c.problem.nd = xd.nd;
  c.problem.w = wd.dims;
  set_geometry(c.problem, g);
  c.problem.math = int(requested_math(c.dtype));
  c.problem.deterministic = cudnn_deterministic();
  c.problem.benchmark = cudnn_benchmark();
  const cudnnDataType_t type = data_type(c.dtype, op);
  c.w.set(type, wd, layout);
  c.w_ptr = ws.data_ptr();
  c.conv.set(c.problem, compute_type(c.dtype));

  const int64_t n = x.size(0), chunk = batch_chunk(x, y, op);
  const size_t esize = element_size(c.dtype);
  for (int64_t n0 = 0; n0 < n; n0 += chunk) {
    TensorDims xc = xd, yc = yd;
    xc.dims[0] = yc.dims[0] = std::min(chunk, n - n0);
    c.problem.x = xc.dims;
    c.problem.y = yc.dims;
    c.x.set(type, xc, layout);
    c.y.set(type, yc, layout);
    c.x_ptr = static_cast<char*>(xs.data_ptr()) + size_t(n0 * sample_numel(x)) * esize;
    c.y_ptr = static_cast<char*>(ys.data_ptr()) + size_t(n0 * sample_numel(y)) * esize;
    const CachedAlgo a = choose(c, device, op);
    void* workspace = a.workspace > 0 ? raw_allocate(a.workspace, device, op) : nullptr;
    try {
      execute(c, a, workspace, kind == ConvKind::BackwardFilter && n0 > 0, op);
    } catch (...) {
      if (workspace != nullptr) raw_free(workspace, device);
      throw;
    }
    // Stream-ordered: the pool reuses it only after the convolution that reads it.
    if (workspace != nullptr) raw_free(workspace, device);
  }
  if (!rs.is_same(result)) cuda::copy(rs, result);
}

}  // namespace

ConvCacheStats conv_cache_stats() {
  Cache& k = cache();
  std::lock_guard<std::mutex> lock(k.mutex);
  return ConvCacheStats{k.hits, k.misses, int64_t(k.entries.size())};
}

void clear_conv_cache() {
  Cache& k = cache();
  std::lock_guard<std::mutex> lock(k.mutex);
  k.entries.clear();
  k.hits = 0;
  k.misses = 0;
}

}  // namespace cudnn

void conv_forward(const Tensor& x, const Tensor& w, const ConvGeometry& g, const Tensor& y) {
  cudnn::run(cudnn::ConvKind::Forward, x, w, y, g);
}

void conv_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g,
                        const Tensor& dx) {
  cudnn::run(cudnn::ConvKind::BackwardData, dx, w, dy, g);
}

void conv_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g,
                          const Tensor& dw) {
  cudnn::run(cudnn::ConvKind::BackwardFilter, x, dw, dy, g);
}

}  // namespace kiln::cuda
