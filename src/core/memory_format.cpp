// Memory formats as dim orders: contiguous is [N, C, spatial...] outermost first, channels-last
// is [N, spatial..., C]. A tensor is in a format when its strides are those of a dense tensor
// in that order (size-1 dims skipped, as torch). New tensors in a format are fresh storage with
// the format's strides (not views: in-place ops on them follow the rules of any result), and
// conversions copy with autograd recording the copy.
#include "kiln/memory_format.h"

#include <algorithm>
#include <vector>

#include "core/tensor_impl.h"
#include "kiln/error.h"

namespace kiln {
namespace {

int64_t dims_of(MemoryFormat format) { return format == MemoryFormat::ChannelsLast3d ? 5 : 4; }

// `format`'s dim order for a tensor of `dims` dims, outermost first.
std::vector<int64_t> order_of(MemoryFormat format, int64_t dims) {
  std::vector<int64_t> order;
  if (format == MemoryFormat::ChannelsLast || format == MemoryFormat::ChannelsLast3d) {
    order.push_back(0);
    for (int64_t d = 2; d < dims; ++d) order.push_back(d);
    order.push_back(1);
  } else {
    for (int64_t d = 0; d < dims; ++d) order.push_back(d);
  }
  return order;
}

// The strides of a dense tensor of `shape` whose dims, outermost first, are `order` (sizes of
// 0 count as 1, so every stride is positive, as torch's).
Shape strides_in_order(const Shape& shape, const std::vector<int64_t>& order) {
  Shape strides(shape.size(), 1);
  int64_t z = 1;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    strides[size_t(*it)] = z;
    z *= std::max<int64_t>(shape[size_t(*it)], 1);
  }
  return strides;
}

// Whether x's strides are those of a dense tensor whose dims, outermost first, are `order`;
// size-1 dims are skipped, as torch does.
bool dense_in_order(const Tensor& x, const std::vector<int64_t>& order) {
  int64_t expected = 1;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const int64_t size = x.size(*it);
    if (size == 1) continue;
    if (x.strides()[size_t(*it)] != expected) return false;
    expected *= size;
  }
  return true;
}

// New storage for `shape` addressed through `strides` (dense: the span is the element count).
Tensor fresh_strided(const Shape& shape, const Shape& strides, TensorOptions options) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  Tensor t = make_view(empty({n}, options), shape, strides, 0);
  t.impl()->set_view(false);  // the only tensor on its storage
  return t;
}

void check_rank(const char* op, const Shape& shape, MemoryFormat format) {
  if (format != MemoryFormat::ChannelsLast && format != MemoryFormat::ChannelsLast3d) return;
  const int64_t dims = dims_of(format);
  KILN_CHECK_VALUE(int64_t(shape.size()) == dims, op, ": memory format ",
                   memory_format_name(format), " needs a ", dims, "-D tensor, got shape ",
                   shape_str(shape));
}

// A copy of x in `format`'s strides; autograd records it (copy_ passes the gradient to x).
Tensor copy_in_format(const Tensor& x, MemoryFormat format) {
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), x.device()), format);
  out.copy_(x);
  return out;
}

}  // namespace

const char* memory_format_name(MemoryFormat format) {
  switch (format) {
    case MemoryFormat::Contiguous:
      return "contiguous_format";
    case MemoryFormat::ChannelsLast:
      return "channels_last";
    case MemoryFormat::ChannelsLast3d:
      return "channels_last_3d";
    case MemoryFormat::Preserve:
      return "preserve_format";
  }
  return "?";
}

bool is_contiguous(const Tensor& x, MemoryFormat format) {
  switch (format) {
    case MemoryFormat::Contiguous:
      return x.is_contiguous();
    case MemoryFormat::Preserve:
      throw Error("is_contiguous: memory format preserve_format is not a layout");
    case MemoryFormat::ChannelsLast:
    case MemoryFormat::ChannelsLast3d:
      return x.dim() == dims_of(format) && dense_in_order(x, order_of(format, x.dim()));
  }
  return false;
}

MemoryFormat suggest_memory_format(const Tensor& x) {
  if (x.is_contiguous()) return MemoryFormat::Contiguous;
  if (x.dim() == 4 && is_contiguous(x, MemoryFormat::ChannelsLast))
    return MemoryFormat::ChannelsLast;
  if (x.dim() == 5 && is_contiguous(x, MemoryFormat::ChannelsLast3d))
    return MemoryFormat::ChannelsLast3d;
  return MemoryFormat::Contiguous;
}

Tensor contiguous(const Tensor& x, MemoryFormat format) {
  if (format == MemoryFormat::Preserve) format = suggest_memory_format(x);
  if (format == MemoryFormat::Contiguous) return contiguous(x);
  check_rank("contiguous", x.shape(), format);
  if (is_contiguous(x, format)) return x;
  return copy_in_format(x, format);
}

Tensor to_memory_format(const Tensor& x, MemoryFormat format) {
  if (format == MemoryFormat::Preserve) return x;
  check_rank("to", x.shape(), format);
  if (x.strides() == strides_in_order(x.shape(), order_of(format, x.dim()))) return x;
  return copy_in_format(x, format);
}

Tensor empty(const Shape& shape, TensorOptions options, MemoryFormat format) {
  if (format == MemoryFormat::Contiguous || format == MemoryFormat::Preserve)
    return empty(shape, options);
  check_rank("empty", shape, format);
  return fresh_strided(shape, strides_in_order(shape, order_of(format, int64_t(shape.size()))),
                       options);
}

Tensor empty_like(const Tensor& x, TensorOptions options, MemoryFormat format) {
  if (format != MemoryFormat::Preserve) return empty(x.shape(), options, format);
  if (x.numel() == 0) return empty(x.shape(), options);
  // Dense: walking the dims from the largest stride down, each stride is the product of the
  // sizes inside it (size-1 dims skipped).
  std::vector<int64_t> order;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (x.size(d) != 1) order.push_back(d);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return x.stride(a) > x.stride(b); });
  if (!dense_in_order(x, order)) return empty(x.shape(), options);
  if (x.strides() == strides_in_order(x.shape(), order_of(MemoryFormat::Contiguous, x.dim())))
    return empty(x.shape(), options);
  return fresh_strided(x.shape(), x.strides(), options);
}

MemoryFormat elementwise_memory_format(const Shape& shape,
                                       std::initializer_list<const Tensor*> inputs) {
  if (shape.size() != 4 && shape.size() != 5) return MemoryFormat::Contiguous;
  const MemoryFormat cl =
      shape.size() == 4 ? MemoryFormat::ChannelsLast : MemoryFormat::ChannelsLast3d;
  bool strictly = false;
  for (const Tensor* t : inputs) {
    if (!t->defined() || t->shape() != shape) continue;
    if (!is_contiguous(*t, cl)) return MemoryFormat::Contiguous;
    strictly = strictly || !t->is_contiguous();
  }
  return strictly ? cl : MemoryFormat::Contiguous;
}

}  // namespace kiln
