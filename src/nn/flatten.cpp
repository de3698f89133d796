// Flatten and Unflatten.
#include "kiln/nn/flatten.h"

#include "kiln/ops.h"

namespace kiln::nn {

Flatten::Flatten(int64_t start_dim, int64_t end_dim)
    : Module("Flatten"), start_dim_(start_dim), end_dim_(end_dim) {}

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim_, end_dim_); }

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim_) + ", end_dim=" + std::to_string(end_dim_);
}

Unflatten::Unflatten(int64_t dim, Shape sizes)
    : Module("Unflatten"), dim_(dim), sizes_(std::move(sizes)) {
  KILN_CHECK_VALUE(!sizes_.empty(), "Unflatten: unflattened_size must not be empty");
  int inferred = 0;
  for (int64_t s : sizes_) {
    KILN_CHECK_VALUE(s >= 0 || s == -1, "Unflatten: sizes must be non-negative or -1, got ",
                     shape_str(sizes_));
    inferred += s == -1;
  }
  KILN_CHECK_VALUE(inferred <= 1, "Unflatten: only one size can be inferred (-1), got ",
                   shape_str(sizes_));
}

Tensor Unflatten::forward(const Tensor& x) {
  KILN_CHECK(x.defined(), "Unflatten: the input is undefined");
  const int64_t d = wrap_dim("Unflatten", dim_, x.shape());
  const int64_t n = x.size(d);
  int64_t known = 1;
  bool infer = false;
  for (int64_t s : sizes_) {
    if (s == -1)
      infer = true;
    else
      known *= s;
  }
  const bool fits = infer ? (known != 0 && n % known == 0) : known == n;
  KILN_CHECK_VALUE(fits, "Unflatten: sizes ", shape_str(sizes_), " do not fit dimension ", d,
                   " of size ", n, " of the input of shape ", shape_str(x.shape()));
  Shape out(x.shape().begin(), x.shape().begin() + d);
  for (int64_t s : sizes_) out.push_back(s == -1 ? n / known : s);
  out.insert(out.end(), x.shape().begin() + d + 1, x.shape().end());
  return reshape(x, out);
}

std::string Unflatten::extra_repr() const {
  // Python prints the size tuple: (2, 5), or (4,) for a single entry.
  std::string s = "dim=" + std::to_string(dim_) + ", unflattened_size=(";
  for (size_t i = 0; i < sizes_.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes_[i]);
  return s + (sizes_.size() == 1 ? ",)" : ")");
}

}  // namespace kiln::nn
