#pragma once
// How Kiln tensors map onto cuDNN's tensor and filter descriptors. Plain C++ (no CUDA or cuDNN
// headers), so that the mapping is unit-tested on the CPU (tests/cpp/test_cuda_conv.cpp).
//
// cuDNN sees every operand as 4-D or 5-D [N, C, spatial...]: a 1-D convolution's [N, C, L] is
// [N, C, 1, L] (as torch does), 2-D and 3-D ones are themselves, and batch norm's [N, C, *] is
// [N, C, S, 1] with S the product of the spatial sizes. Descriptors always carry the packed
// strides of one layout, NCHW (contiguous) or NHWC (channels-last: C fastest); a tensor is used
// in place when it is dense in that layout (strides of size-1 dims do not matter, as in torch),
// otherwise through a dense copy.
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace kiln::cuda::cudnn {

enum class Layout : int8_t { NCHW, NHWC };  // NHWC: channels last (NDHWC for 5-D)

// An operand in cuDNN's terms: nd (4 or 5) dims [N, C, spatial...] and the tensor's strides
// for them.
struct TensorDims {
  int nd = 4;
  std::array<int64_t, 5> dims{1, 1, 1, 1, 1};
  std::array<int64_t, 5> strides{1, 1, 1, 1, 1};
  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < nd; ++d) n *= dims[size_t(d)];
    return n;
  }
};

// Where dim i of a convolution operand with `spatial` spatial dims sits among cuDNN's dims:
// 1-D operands get the unit height inserted at index 2.
inline int conv_dim_index(int spatial, int i) { return spatial == 1 && i >= 2 ? i + 1 : i; }

// A convolution operand [N, C, I...] (x, y, dx, dy) or filter [OC, C / groups, K...] with
// `spatial` (1-3) spatial dims and the given strides, as cuDNN dims.
inline TensorDims conv_dims(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                            int spatial) {
  TensorDims t;
  t.nd = spatial == 3 ? 5 : 4;
  for (size_t i = 0; i < shape.size(); ++i) {
    const size_t j = size_t(conv_dim_index(spatial, int(i)));
    t.dims[j] = shape[i];
    t.strides[j] = strides[i];
  }
  if (spatial == 1) t.strides[2] = t.strides[3] * t.dims[3];  // the unit dim: any value works
  return t;
}

// The order of cuDNN's dims from the outermost to the innermost in `layout`: NCHW is [0, 1,
// 2, ...], NHWC is [0, 2, ..., nd - 1, 1].
inline std::vector<int> memory_order(int nd, Layout layout) {
  std::vector<int> order{0};
  if (layout == Layout::NCHW) order.push_back(1);
  for (int d = 2; d < nd; ++d) order.push_back(d);
  if (layout == Layout::NHWC) order.push_back(1);
  return order;
}

// The packed strides of `t`'s dims in `layout` (a size-1 dim gets the stride of the dims
// inside it, torch's convention, which cuDNN accepts).
inline std::array<int64_t, 5> packed_strides(const TensorDims& t, Layout layout) {
  std::array<int64_t, 5> s{1, 1, 1, 1, 1};
  const std::vector<int> order = memory_order(t.nd, layout);
  int64_t z = 1;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    s[size_t(*it)] = z;
    z *= std::max<int64_t>(t.dims[size_t(*it)], 1);
  }
  return s;
}

// Whether `t`'s strides address its elements densely in `layout`; size-1 dims are skipped.
inline bool is_dense(const TensorDims& t, Layout layout) {
  const std::vector<int> order = memory_order(t.nd, layout);
  int64_t expected = 1;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const int64_t size = t.dims[size_t(*it)];
    if (size == 1) continue;
    if (t.strides[size_t(*it)] != expected) return false;
    expected *= size;
  }
  return true;
}

// The same for a tensor [N, C, *] of any rank (batch norm's operands): NHWC means C innermost
// and the other dims in order outside it.
inline bool is_dense(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                     Layout layout) {
  std::vector<size_t> order{0};
  if (layout == Layout::NCHW) order.push_back(1);
  for (size_t d = 2; d < shape.size(); ++d) order.push_back(d);
  if (layout == Layout::NHWC) order.push_back(1);
  int64_t expected = 1;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (shape[*it] == 1) continue;
    if (strides[*it] != expected) return false;
    expected *= shape[*it];
  }
  return true;
}

// The layout a convolution runs in. The result decides when it is dense in exactly one layout
// (it is written in place). Otherwise (dense in both, which happens when C == 1 or every
// spatial size is 1, or in neither, when it is written through a copy) channels-last wins when
// an input is channels-last and not also contiguous, as torch's cudnn_conv_suggest_memory_format.
inline Layout choose_layout(const TensorDims& result,
                            std::initializer_list<const TensorDims*> inputs) {
  const bool nchw = is_dense(result, Layout::NCHW), nhwc = is_dense(result, Layout::NHWC);
  if (nchw != nhwc) return nhwc ? Layout::NHWC : Layout::NCHW;
  for (const TensorDims* in : inputs) {
    if (is_dense(*in, Layout::NHWC) && !is_dense(*in, Layout::NCHW)) return Layout::NHWC;
  }
  return Layout::NCHW;
}

// Batch norm's x [N, C, *] as [N, C, S, 1] with the packed strides of `layout` (the layout x
// is dense in).
inline TensorDims batch_norm_dims(const std::vector<int64_t>& shape, Layout layout) {
  TensorDims t;
  t.nd = 4;
  t.dims[0] = shape[0];
  t.dims[1] = shape[1];
  int64_t s = 1;
  for (size_t i = 2; i < shape.size(); ++i) s *= shape[i];
  t.dims[2] = s;
  t.dims[3] = 1;
  t.strides = packed_strides(t, layout);
  return t;
}

// cuDNN takes dims and strides as int: every dim and the largest offset must fit.
inline bool fits_int32(const TensorDims& t) {
  constexpr int64_t kMax = int64_t(0x7fffffff);
  int64_t last = 0;
  for (int d = 0; d < t.nd; ++d) {
    const int64_t size = t.dims[size_t(d)];
    if (size > kMax || t.strides[size_t(d)] > kMax) return false;
    if (size > 0) last += (size - 1) * t.strides[size_t(d)];
  }
  return last < kMax;
}

// ---- the algorithm cache's key ----

enum class ConvKind : int8_t { Forward, BackwardData, BackwardFilter };

// Everything the choice of a convolution algorithm depends on. dtype and math are the numeric
// values of Kiln's DType and cuDNN's cudnnMathType_t.
struct ConvProblem {
  ConvKind kind = ConvKind::Forward;
  int device = 0;
  int dtype = 0;
  Layout layout = Layout::NCHW;
  int nd = 4;
  std::array<int64_t, 5> x{}, w{}, y{};  // dims of x (or dx), w (or dw), y (or dy)
  std::array<int64_t, 3> padding{}, stride{}, dilation{};
  int64_t groups = 1;
  int math = 0;
  bool deterministic = false;
  bool benchmark = false;
};

using ConvKey = std::array<int64_t, 33>;

inline ConvKey conv_key(const ConvProblem& p) {
  ConvKey k{};
  size_t i = 0;
  k[i++] = int64_t(p.kind);
  k[i++] = p.device;
  k[i++] = p.dtype;
  k[i++] = int64_t(p.layout);
  k[i++] = p.nd;
  for (const auto* a : {&p.x, &p.w, &p.y})
    for (int64_t v : *a) k[i++] = v;
  for (const auto* a : {&p.padding, &p.stride, &p.dilation})
    for (int64_t v : *a) k[i++] = v;
  k[i++] = p.groups;
  k[i++] = p.math;
  k[i++] = p.deterministic;
  k[i++] = p.benchmark;
  return k;
}

}  // namespace kiln::cuda::cudnn
