#pragma once
// The functional API: every op of the library as a free function, named as in PyTorch.
// All ops broadcast and promote dtypes like PyTorch, record autograd history when an input
// requires grad, and throw kiln::Error naming the op and the shapes on bad input.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

struct TensorOptions {
  DType dtype = kDefaultFloat;
  Device device = Device::cpu();
  bool requires_grad = false;
  TensorOptions() = default;
  TensorOptions(DType d) : dtype(d) {}  // NOLINT(google-explicit-constructor)
  TensorOptions(DType d, Device dev, bool rg = false) : dtype(d), device(dev), requires_grad(rg) {}
};

// ---------------- factories (src/ops/factory.cpp, src/ops/random.cpp) ----------------
Tensor empty(const Shape& shape, TensorOptions opt = {});
Tensor zeros(const Shape& shape, TensorOptions opt = {});
Tensor ones(const Shape& shape, TensorOptions opt = {});
Tensor full(const Shape& shape, Scalar value, std::optional<DType> dtype = std::nullopt,
            Device device = Device::cpu());
Tensor scalar_tensor(Scalar value, std::optional<DType> dtype = std::nullopt,
                     Device device = Device::cpu());
Tensor arange(double end, TensorOptions opt = {DType::Int64});
Tensor arange(double start, double end, double step = 1, TensorOptions opt = {DType::Int64});
Tensor linspace(double start, double end, int64_t steps, TensorOptions opt = {});
Tensor eye(int64_t n, std::optional<int64_t> m = std::nullopt, TensorOptions opt = {});
// From data, row-major; `shape` defaults to 1-D.
Tensor tensor(const std::vector<double>& data, const Shape& shape = {}, TensorOptions opt = {});
Tensor tensor(const std::vector<int64_t>& data, const Shape& shape = {},
              TensorOptions opt = {DType::Int64});
// tensor({1, 2.5, 3}): a braced list is read as floating point data (float32 by default);
// pass std::vector<int64_t> for integer data.
Tensor tensor(std::initializer_list<double> data, const Shape& shape = {}, TensorOptions opt = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, Scalar value);
Tensor empty_like(const Tensor& t);

// Random numbers: Philox4x32-10, element i depends only on (seed, offset, i). See random.h.
Tensor rand(const Shape& shape, TensorOptions opt = {});
Tensor randn(const Shape& shape, TensorOptions opt = {});
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opt = {DType::Int64});
Tensor rand_like(const Tensor& t);
Tensor randn_like(const Tensor& t);
Tensor bernoulli(const Tensor& probs);
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);

// ---------------- elementwise arithmetic (src/ops/arithmetic.cpp) ----------------
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);  // true division: integers give float
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor pow(const Tensor& base, Scalar exponent);
Tensor pow(Scalar base, const Tensor& exponent);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor floor_divide(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, const Tensor& b);  // sign of the divisor, like Python's %
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
Tensor lerp(const Tensor& start, const Tensor& end, double weight);

// ---------------- comparisons (src/ops/comparison.cpp); results are bool ----------------
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);
bool equal(const Tensor& a, const Tensor& b);  // same shape and same values
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8,
              bool equal_nan = false);
Tensor isnan(const Tensor& x);
Tensor isfinite(const Tensor& x);

// ---------------- unary math (src/ops/unary.cpp) ----------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor square(const Tensor& x);
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x);

// ---------------- activations (src/ops/activation.cpp) ----------------
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor gelu(const Tensor& x, const std::string& approximate = "none");  // "none" | "tanh"
Tensor silu(const Tensor& x);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);

// ---------------- reductions (src/ops/reduction.cpp) ----------------
// `dims` empty means all dimensions.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false,
           std::optional<DType> dtype = std::nullopt);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor prod(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, double correction = 1,
           bool keepdim = false);
Tensor std(const Tensor& x, const std::vector<int64_t>& dims = {}, double correction = 1,
           bool keepdim = false);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements
Tensor min(const Tensor& x);
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim,
                              bool keepdim = false);  // values, indices
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
// p-norm over dims (p = 2 by default; also 1, inf (use INFINITY), -inf, 0 and any other p > 0).
Tensor norm(const Tensor& x, double p = 2, const std::vector<int64_t>& dims = {},
            bool keepdim = false);
// Sums `x` down to `shape` (the inverse of broadcasting); used by every broadcasting backward.
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---------------- softmax (src/ops/softmax.cpp) ----------------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---------------- linear algebra (src/ops/linalg.cpp) ----------------
Tensor matmul(const Tensor& a, const Tensor& b);  // 1-D, 2-D and broadcast batched, as PyTorch
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
Tensor outer(const Tensor& a, const Tensor& b);
Tensor dot(const Tensor& a, const Tensor& b);

// ---------------- views and shape (src/ops/view.cpp) ----------------
Tensor view(const Tensor& x, const Shape& shape);
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end,
             int64_t step = 1);
Tensor expand(const Tensor& x, const Shape& shape);  // -1 keeps a size
Tensor broadcast_to(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = std::nullopt);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor contiguous(const Tensor& x);

// ---------------- joining and splitting (src/ops/join.cpp) ----------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);

// ---------------- indexing (src/ops/indexing.cpp) ----------------
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out = x with `source` rows added at `index` along `dim` (out-of-place index_add).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source,
                 Scalar alpha = 1);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, Scalar value);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);
Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value);  // 0-dim value
Tensor one_hot(const Tensor& index, int64_t num_classes = -1);
Tensor embedding(const Tensor& weight, const Tensor& indices);

// ---------------- copies (src/ops/copy.cpp) ----------------
Tensor to_dtype(const Tensor& x, DType dtype);
Tensor to_device(const Tensor& x, Device device);
Tensor clone(const Tensor& x);

}  // namespace kiln
