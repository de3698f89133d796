// Joining and splitting: cat copies its inputs into windows of one output and records a single
// node; stack is unsqueeze + cat; split and chunk return narrow() views.
#include "ops/op_common.h"

namespace kiln {

namespace {

// PyTorch still accepts (and skips) 1-D empty tensors in cat whatever the other shapes are.
bool skipped_in_cat(const Tensor& t) { return t.dim() == 1 && t.size(0) == 0; }

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  KILN_CHECK_VALUE(!tensors.empty(), "cat: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    KILN_CHECK_VALUE(tensors[i].defined(), "cat: tensor ", i, " is undefined");
    KILN_CHECK_VALUE(tensors[i].dim() > 0, "cat: zero-dimensional tensor (at position ", i,
                     ") cannot be concatenated");
  }
  // The first tensor that is not skipped decides the rank and the sizes.
  const Tensor* ref = nullptr;
  size_t ref_pos = 0;
  for (size_t i = 0; i < tensors.size() && !ref; ++i) {
    if (!skipped_in_cat(tensors[i])) {
      ref = &tensors[i];
      ref_pos = i;
    }
  }
  const Device dev = tensors[0].device();
  DType type = tensors[0].dtype();
  for (size_t i = 0; i < tensors.size(); ++i) {
    KILN_CHECK(tensors[i].device() == dev, "cat: expected all tensors on the same device, got ",
               describe(tensors[0]), " (tensor 0) and ", describe(tensors[i]), " (tensor ", i, ")");
    // Every operand has a dimension, so result_type reduces to pairwise promotion.
    type = promote_types(type, tensors[i].dtype());
  }
  if (!ref) {  // only [0]-shaped tensors: the result is one too
    return empty({0}, TensorOptions(type, dev));
  }
  dim = wrap_dim("cat", dim, ref->dim());
  Shape shape = ref->shape();
  int64_t total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (skipped_in_cat(t)) continue;
    KILN_CHECK_VALUE(t.dim() == ref->dim(),
                     "cat: tensors must have the same number of "
                     "dimensions, got ",
                     shape_str(ref->shape()), " (tensor ", ref_pos, ") and ", shape_str(t.shape()),
                     " (tensor ", i, ")");
    for (int64_t d = 0; d < t.dim(); ++d) {
      KILN_CHECK_VALUE(d == dim || t.size(d) == ref->size(d),
                       "cat: sizes of tensors must "
                       "match except in dimension ",
                       dim, "; got ", shape_str(ref->shape()), " (tensor ", ref_pos, ") and ",
                       shape_str(t.shape()), " (tensor ", i, ") which differ in dimension ", d);
    }
    total += t.size(dim);
  }
  shape[size_t(dim)] = total;

  Tensor out = empty(shape, TensorOptions(type, dev));
  Backend& be = backend_for(OpId::Copy, dev);
  std::vector<int64_t> offsets(tensors.size(), 0), lengths(tensors.size(), -1);
  int64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (skipped_in_cat(t)) continue;
    offsets[i] = offset;
    lengths[i] = t.size(dim);
    // A window of the fresh output: a raw view, the copy is not part of the graph.
    Shape window_shape = shape;
    window_shape[size_t(dim)] = lengths[i];
    Tensor window =
        make_view(out, window_shape, out.strides(), offset * out.strides()[size_t(dim)]);
    be.copy(t, window);
    offset += lengths[i];
  }

  if (should_record(tensors)) {
    record("CatBackward0", tensors, {out},
           [dim, offsets, lengths](FunctionNode& n, const std::vector<Tensor>& g) {
             std::vector<Tensor> grads(offsets.size());
             for (size_t i = 0; i < offsets.size(); ++i) {
               if (lengths[i] < 0 || !n.needs_input_grad(i)) continue;
               grads[i] = narrow(g[0], dim, offsets[i], lengths[i]);
             }
             return grads;
           });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  KILN_CHECK_VALUE(!tensors.empty(), "stack: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    KILN_CHECK_VALUE(tensors[i].defined(), "stack: tensor ", i, " is undefined");
  for (size_t i = 1; i < tensors.size(); ++i) {
    KILN_CHECK_VALUE(tensors[i].shape() == tensors[0].shape(),
                     "stack: expects each tensor to be equal size, but got ",
                     shape_str(tensors[0].shape()), " at entry 0 and ",
                     shape_str(tensors[i].shape()), " at entry ", i);
  }
  dim = wrap_dim("stack", dim, tensors[0].dim() + 1);
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(unsqueeze(t, dim));
  return cat(parts, dim);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  check_defined("split", {&x});
  KILN_CHECK_VALUE(x.dim() > 0, "split: cannot split a 0-d tensor");
  dim = wrap_dim("split", dim, x.dim());
  const int64_t size = x.size(dim);
  int64_t sum = 0;
  for (int64_t s : sizes) {
    KILN_CHECK_VALUE(s >= 0, "split: split sizes must be non-negative, got ",
                     shape_str(Shape(sizes)));
    sum += s;
  }
  KILN_CHECK_VALUE(sum == size, "split: split sizes ", shape_str(Shape(sizes)),
                   " must sum to the size ", size, " of dimension ", dim, " (input shape ",
                   shape_str(x.shape()), "), but they sum to ", sum);
  std::vector<Tensor> parts;
  parts.reserve(sizes.size());
  int64_t start = 0;
  for (int64_t s : sizes) {
    parts.push_back(narrow(x, dim, start, s));
    start += s;
  }
  return parts;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  check_defined("split", {&x});
  KILN_CHECK_VALUE(x.dim() > 0, "split: cannot split a 0-d tensor");
  dim = wrap_dim("split", dim, x.dim());
  const int64_t size = x.size(dim);
  KILN_CHECK_VALUE(split_size > 0 || (split_size == 0 && size == 0),
                   "split: split_size must be positive, got ", split_size, " (input shape ",
                   shape_str(x.shape()), ")");
  // Like PyTorch: ceil(size / split_size) pieces, the last one shorter; at least one piece.
  const int64_t pieces =
      split_size == 0 ? 1 : std::max<int64_t>((size + split_size - 1) / split_size, 1);
  std::vector<int64_t> sizes(size_t(pieces), split_size);
  sizes.back() = size - split_size * (pieces - 1);
  return split(x, sizes, dim);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  check_defined("chunk", {&x});
  KILN_CHECK_VALUE(x.dim() > 0, "chunk: cannot chunk a 0-d tensor");
  KILN_CHECK_VALUE(chunks > 0, "chunk: the number of chunks must be positive, got ", chunks);
  dim = wrap_dim("chunk", dim, x.dim());
  const int64_t size = x.size(dim);
  const int64_t split_size = (size + chunks - 1) / chunks;
  // An empty dim still gives `chunks` empty pieces, as in PyTorch.
  if (split_size == 0) return split(x, std::vector<int64_t>(size_t(chunks), 0), dim);
  return split(x, split_size, dim);
}

}  // namespace kiln
