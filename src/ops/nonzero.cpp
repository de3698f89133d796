// nonzero: the positions of the non-zero elements. Its output size depends on the values, so
// it is computed on the host from a contiguous CPU copy (like the index range checks in
// src/ops/indexing.cpp) and moved back to x's device; no kernel, no autograd.
#include <vector>

#include "kiln/indexing.h"
#include "ops/op_common.h"

namespace kiln {

Tensor nonzero(const Tensor& x) {
  check_defined("nonzero", {&x});
  Tensor host = x.detach();
  if (!host.device().is_cpu()) host = host.to(Device::cpu());
  host = contiguous(cast_raw(host, DType::Bool));
  const bool* p = host.data<bool>();
  const int64_t numel = host.numel(), nd = x.dim();
  int64_t n = 0;
  for (int64_t i = 0; i < numel; ++i) n += p[i] ? 1 : 0;
  Tensor out = empty({n, nd}, DType::Int64);
  int64_t* o = out.data<int64_t>();
  std::vector<int64_t> pos(size_t(nd), 0);  // row-major odometer over x's shape
  for (int64_t i = 0; i < numel; ++i) {
    if (p[i]) o = std::copy(pos.begin(), pos.end(), o);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++pos[size_t(d)] < x.size(d)) break;
      pos[size_t(d)] = 0;
    }
  }
  return x.device().is_cpu() ? out : out.to(x.device());
}

std::vector<Tensor> nonzero_tuple(const Tensor& x) {
  Tensor nz = nonzero(x);
  // A 0-d tensor counts as 1-D (torch.nonzero(as_tuple=True)): [0] when non-zero, else [].
  if (x.dim() == 0) return {zeros({nz.size(0)}, TensorOptions(DType::Int64, x.device()))};
  std::vector<Tensor> cols;
  for (int64_t j = 0; j < x.dim(); ++j) cols.push_back(nz.select(1, j));
  return cols;
}

}  // namespace kiln
