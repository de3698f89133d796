// Bad input gives a kiln::Error naming the op and the offending shapes: wrong shapes, dtypes and
// devices, for every op family. No crash, no abort, no silent broadcast.
#include "core/tensor_impl.h"
#include "test_util.h"

namespace kiln::testing {
namespace {

// A tensor that claims to live on cuda:0 without memory: enough to exercise device checks,
// which run before any data is touched.
Tensor fake_cuda(const Shape& shape, DType dtype = DType::Float32) {
  auto storage = std::make_shared<Storage>(nullptr, 0, Device::cuda(0), nullptr);
  return Tensor(std::make_shared<TensorImpl>(storage, shape, contiguous_strides(shape), 0, dtype));
}

TEST(Errors, ElementwiseShapes) {
  Tensor a = ones({2, 3}), b = ones({4, 3});
  EXPECT_THROW_MSG(add(a, b), ValueError, "add", "[2, 3]", "[4, 3]");
  EXPECT_THROW_MSG(mul(a, b), ValueError, "mul", "[2, 3]", "[4, 3]");
  EXPECT_THROW_MSG(div(a, b), ValueError, "div", "[2, 3]", "[4, 3]");
  EXPECT_THROW_MSG(maximum(a, b), ValueError, "maximum", "[2, 3]", "[4, 3]");
  EXPECT_THROW_MSG(pow(a, b), ValueError, "pow", "[2, 3]", "[4, 3]");
  EXPECT_THROW_MSG(lt(a, b), ValueError, "lt", "[2, 3]", "[4, 3]");
  EXPECT_THROW_MSG(where(a > 0, a, b), ValueError, "where", "[2, 3]", "[4, 3]");
}

TEST(Errors, ElementwiseDtypes) {
  Tensor a = ones({2, 3});
  EXPECT_THROW_MSG(where(a, a, a), TypeError, "where", "bool", "[2, 3] float32");
  EXPECT_THROW_MSG(sub(a > 0, a > 0), TypeError, "sub", "bool");
  EXPECT_THROW_MSG(relu(a > 0), TypeError, "relu", "bool");
  EXPECT_THROW_MSG(floor_divide(arange(3), zeros({3}, DType::Int64)), ValueError, "floor_divide",
                   "division by zero");
  EXPECT_THROW_MSG(pow(arange(3), -1), ValueError, "pow", "negative");
  EXPECT_THROW_MSG(gelu(a, "fast"), ValueError, "gelu", "fast");
  EXPECT_THROW_MSG(dropout(a, 1.5), ValueError, "dropout", "1.5");
  EXPECT_THROW_MSG(clamp(a, std::nullopt, std::nullopt), ValueError, "clamp");
}

TEST(Errors, Devices) {
  Tensor cpu = ones({2, 3});
  Tensor gpu = fake_cuda({2, 3});
  EXPECT_THROW_MSG(add(cpu, gpu), Error, "add", "same device", "[2, 3] float32 on cpu",
                   "[2, 3] float32 on cuda:0");
  EXPECT_THROW_MSG(mul(cpu, gpu), Error, "mul", "cuda:0");
  EXPECT_THROW_MSG(where(cpu > 0, cpu, gpu), Error, "where", "cuda:0");
  EXPECT_THROW_MSG(matmul(cpu, fake_cuda({3, 2})), Error, "matmul", "cuda:0");
  EXPECT_THROW_MSG(cat({cpu, gpu}), Error, "cat", "cuda:0");
  EXPECT_THROW_MSG(index_select(cpu, 0, fake_cuda({1}, DType::Int64)), Error, "index_select",
                   "cuda:0");
  EXPECT_THROW_MSG(gather(gpu, 0, zeros({1, 3}, DType::Int64)), Error, "gather", "cuda");
  // An op on a device without that kernel (or without that backend) says which.
  EXPECT_THROW_MSG(relu(gpu), Error, "cuda");
}

TEST(Errors, Reductions) {
  Tensor a = ones({2, 3});
  EXPECT_THROW_MSG(sum(a, {2}), ValueError, "sum", "2");
  EXPECT_THROW_MSG(sum(a, {1, -1}), ValueError, "sum");
  EXPECT_THROW_MSG(mean(arange(4)), TypeError, "mean", "int64");
  EXPECT_THROW_MSG(max(a, 5), ValueError, "max", "5");
  EXPECT_THROW_MSG(softmax(a, 2), ValueError, "softmax", "2");
  EXPECT_THROW_MSG(softmax(arange(3), 0), TypeError, "softmax");
  EXPECT_THROW_MSG(max(zeros({0})), Error, "max");
}

TEST(Errors, MatrixProducts) {
  EXPECT_THROW_MSG(matmul(ones({2, 3}), ones({4, 5})), ValueError, "matmul", "[2, 3]", "[4, 5]");
  EXPECT_THROW_MSG(bmm(ones({2, 3, 4}), ones({2, 5, 6})), ValueError, "bmm", "[2, 3, 4]",
                   "[2, 5, 6]");
  EXPECT_THROW_MSG(bmm(ones({2, 3}), ones({2, 3})), ValueError, "bmm", "[2, 3]");
  EXPECT_THROW_MSG(matmul(ones({2, 3}), ones({3, 2}, DType::Float64)), TypeError, "matmul",
                   "float32", "float64");
  EXPECT_THROW_MSG(linear(ones({2, 3}), ones({4, 5})), ValueError, "[2, 3]", "[4, 5]");
  EXPECT_THROW_MSG(matmul(ones({2, 2, 3}), ones({3, 3, 2})), ValueError, "matmul");
}

TEST(Errors, ShapesAndViews) {
  Tensor a = ones({2, 3});
  EXPECT_THROW_MSG(a.view({4}), ValueError, "view", "[4]", "[2, 3]");
  EXPECT_THROW_MSG(a.reshape({-1, -1}), ValueError, "reshape");
  EXPECT_THROW_MSG(a.permute({0}), ValueError, "permute", "[2, 3]");
  EXPECT_THROW_MSG(a.permute({0, 0}), ValueError, "permute");
  EXPECT_THROW_MSG(a.transpose(0, 2), ValueError, "transpose", "2");
  EXPECT_THROW_MSG(a.narrow(1, 2, 2), ValueError, "narrow", "[2, 3]");
  EXPECT_THROW_MSG(a.select(0, 2), ValueError, "select", "[2, 3]");
  EXPECT_THROW_MSG(a.expand({3, 3}), ValueError, "expand", "[2, 3]", "[3, 3]");
  EXPECT_THROW_MSG(a.slice(0, 0, 2, 0), ValueError, "slice", "step");
  EXPECT_THROW_MSG(a.flatten(1, 0), ValueError, "flatten");
  EXPECT_THROW_MSG(zeros({-1}), ValueError, "empty", "[-1]");
}

TEST(Errors, JoiningAndIndexing) {
  Tensor a = ones({2, 3});
  EXPECT_THROW_MSG(cat({a, ones({2, 4})}, 0), ValueError, "cat", "[2, 3]", "[2, 4]");
  EXPECT_THROW_MSG(cat({}, 0), ValueError, "cat");
  EXPECT_THROW_MSG(stack({a, ones({3, 2})}), ValueError, "stack", "[2, 3]", "[3, 2]");
  EXPECT_THROW_MSG(split(a, std::vector<int64_t>{1, 2}, 0), ValueError, "split");
  EXPECT_THROW_MSG(index_select(a, 0, tensor(std::vector<int64_t>{0, 2})), Error, "index_select",
                   "2");
  EXPECT_THROW_MSG(index_select(a, 0, ones({1})), TypeError, "index_select", "float32");
  EXPECT_THROW_MSG(gather(a, 1, tensor(std::vector<int64_t>{0, 3}, {2, 1})), Error, "gather", "3");
  EXPECT_THROW_MSG(gather(a, 1, zeros({2}, DType::Int64)), Error, "gather");
  EXPECT_THROW_MSG(scatter_add(a, 0, zeros({2, 3}, DType::Int64), ones({1, 3})), Error,
                   "scatter_add");
  EXPECT_THROW_MSG(masked_fill(a, ones({2, 3}), Scalar(1.0)), TypeError, "masked_fill", "bool");
  EXPECT_THROW_MSG(masked_fill(a, ones({4}) > 0, Scalar(1.0)), ValueError, "masked_fill", "[4]");
  EXPECT_THROW_MSG(one_hot(tensor(std::vector<int64_t>{0, 5}), 3), Error, "one_hot", "5");
  EXPECT_THROW_MSG(embedding(ones({4, 2}), tensor(std::vector<int64_t>{4})), Error, "embedding",
                   "4");
}

TEST(Errors, Autograd) {
  Tensor x = ones({2});
  EXPECT_THROW_MSG(x.backward(), Error, "does not require grad");
  Tensor y = ones({2}).requires_grad_(true);
  EXPECT_THROW_MSG(autograd::grad({sum(y)}, {x}), Error, "grad", "does not require grad");
  EXPECT_THROW_MSG((y * 2.0).backward(ones({3})), ValueError, "[3]", "[2]");
}

}  // namespace
}  // namespace kiln::testing
