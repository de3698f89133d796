#pragma once
// Memory formats of 4-D and 5-D tensors, as torch.memory_format. A channels-last tensor keeps
// the logical shape [N, C, H, W] (or [N, C, D, H, W]) while its elements lie in memory as
// [N, H, W, C] (or [N, D, H, W, C]): the layout cuDNN's tensor-core convolutions want for
// bfloat16/float16. Every op accepts any strides; convolution and batch norm keep their input's
// format, elementwise ops follow elementwise_memory_format, and dtype / device conversions keep
// a dense tensor's strides (torch's preserve_format). Tensors made in a format are fresh storage,
// not views, so in-place ops on them are as free as on any result.
#include <cstdint>
#include <initializer_list>

#include "kiln/ops.h"
#include "kiln/tensor.h"

namespace kiln {

enum class MemoryFormat : uint8_t { Contiguous, ChannelsLast, ChannelsLast3d, Preserve };

const char* memory_format_name(MemoryFormat format);  // "channels_last": torch's, unprefixed

// Whether x's strides are those of `format` (size-1 dims may have any stride, as in torch).
// ChannelsLast needs a 4-D tensor and ChannelsLast3d a 5-D one (other ranks are not in them);
// Preserve is not a layout and raises.
bool is_contiguous(const Tensor& x, MemoryFormat format);
// x itself when it already has `format`, else a copy in it (autograd records the copy), as
// torch's x.contiguous(memory_format=format). Preserve keeps a channels-last x channels-last
// and otherwise gives a contiguous tensor.
Tensor contiguous(const Tensor& x, MemoryFormat format);
// torch's x.to(memory_format=format): x itself when its strides are exactly those of `format`
// (what empty(shape, options, format) gives), else a copy with them (autograd records it).
// Preserve returns x.
Tensor to_memory_format(const Tensor& x, MemoryFormat format);
// The format x is in: ChannelsLast(3d) when x is in that layout but not plainly contiguous,
// else Contiguous (torch's suggest_memory_format).
MemoryFormat suggest_memory_format(const Tensor& x);
// An uninitialised tensor of `shape` laid out in `format`.
Tensor empty(const Shape& shape, TensorOptions options, MemoryFormat format);
// An uninitialised tensor of x's shape with `options`, laid out in `format`; Preserve is torch's
// preserve_format: x's very strides when x is dense (its elements fill their span without gaps
// or overlaps: contiguous, channels-last, any permutation of those), else contiguous.
Tensor empty_like(const Tensor& x, TensorOptions options, MemoryFormat format);

// The format of an elementwise result of `shape` computed from `inputs`, as torch's
// TensorIterator decides it in the common cases: ChannelsLast(3d) when the inputs of the
// result's full shape are all dense in it and at least one of them is not also contiguous
// (broadcast inputs and numbers do not count), else Contiguous. A conv -> batch_norm -> relu ->
// add chain thus stays channels-last.
MemoryFormat elementwise_memory_format(const Shape& shape,
                                       std::initializer_list<const Tensor*> inputs);

}  // namespace kiln
