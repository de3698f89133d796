#include "op_table.h"

#include <cmath>

#include "ops/conv.h"

namespace kiln::testing {

namespace {

using Ts = std::vector<Tensor>;

// Index and mask constants live on the device of the row's input (`like`), as a GPU user
// writes them: the ops require all tensors on one device.
Tensor idx(const Tensor& like, const std::vector<int64_t>& v, const Shape& shape = {}) {
  return tensor(v, shape).to(like.device());
}
Tensor on_device_of(const Tensor& like, const Tensor& t) { return t.to(like.device()); }

std::vector<OpCase> build() {
  std::vector<OpCase> t;
  auto unary = [&](const std::string& name, OpId op, std::function<Tensor(const Tensor&)> f,
                   Domain d = Domain::Any) {
    t.push_back({name, op, {{3, 4}}, [f](const Ts& x) { return Ts{f(x[0])}; }, {d}});
  };
  auto binary = [&](const std::string& name, OpId op,
                    std::function<Tensor(const Tensor&, const Tensor&)> f, Domain da = Domain::Any,
                    Domain db = Domain::Any) {
    t.push_back(
        {name, op, {{3, 4}, {3, 4}}, [f](const Ts& x) { return Ts{f(x[0], x[1])}; }, {da, db}});
    t.push_back({name + "/broadcast",
                 op,
                 {{3, 1}, {4}},
                 [f](const Ts& x) { return Ts{f(x[0], x[1])}; },
                 {da, db}});
  };

  // unary math
  unary("neg", OpId::Neg, [](const Tensor& x) { return neg(x); });
  unary("exp", OpId::Exp, [](const Tensor& x) { return exp(x); });
  unary(
      "log", OpId::Log, [](const Tensor& x) { return log(x); }, Domain::Positive);
  unary(
      "log1p", OpId::Log1p, [](const Tensor& x) { return log1p(x); }, Domain::Positive);
  unary("expm1", OpId::Expm1, [](const Tensor& x) { return expm1(x); });
  unary(
      "sqrt", OpId::Sqrt, [](const Tensor& x) { return sqrt(x); }, Domain::Positive);
  unary(
      "rsqrt", OpId::Rsqrt, [](const Tensor& x) { return rsqrt(x); }, Domain::Positive);
  unary(
      "abs", OpId::Abs, [](const Tensor& x) { return abs(x); }, Domain::AwayFromZero);
  unary(
      "sign", OpId::Sign, [](const Tensor& x) { return sign(x); }, Domain::AwayFromZero);
  unary("sin", OpId::Sin, [](const Tensor& x) { return sin(x); });
  unary("cos", OpId::Cos, [](const Tensor& x) { return cos(x); });
  unary("erf", OpId::Erf, [](const Tensor& x) { return erf(x); });
  unary(
      "reciprocal", OpId::Reciprocal, [](const Tensor& x) { return reciprocal(x); },
      Domain::AwayFromZero);
  unary("square", OpId::Square, [](const Tensor& x) { return square(x); });
  unary("floor", OpId::Floor, [](const Tensor& x) { return floor(x * 3.3); });
  unary("ceil", OpId::Ceil, [](const Tensor& x) { return ceil(x * 3.3); });
  unary("round", OpId::Round, [](const Tensor& x) { return round(x * 3.3); });
  unary(
      "pow_scalar", OpId::PowScalar, [](const Tensor& x) { return pow(x, 2.5); }, Domain::Positive);
  unary("pow_scalar_int", OpId::PowScalar, [](const Tensor& x) { return pow(x, 3); });
  unary("rpow_scalar", OpId::RPowScalar, [](const Tensor& x) { return pow(1.7, x); });
  unary("clamp", OpId::Clamp, [](const Tensor& x) { return clamp(x, -0.5, 0.7); });
  unary("clamp_min", OpId::Clamp, [](const Tensor& x) { return clamp(x, 0.1, std::nullopt); });

  // activations
  unary(
      "relu", OpId::Relu, [](const Tensor& x) { return relu(x); }, Domain::AwayFromZero);
  unary(
      "leaky_relu", OpId::LeakyRelu, [](const Tensor& x) { return leaky_relu(x, 0.1); },
      Domain::AwayFromZero);
  unary(
      "elu", OpId::Elu, [](const Tensor& x) { return elu(x, 1.3); }, Domain::AwayFromZero);
  unary("sigmoid", OpId::Sigmoid, [](const Tensor& x) { return sigmoid(x); });
  unary("tanh", OpId::Tanh, [](const Tensor& x) { return tanh(x); });
  unary("gelu", OpId::Gelu, [](const Tensor& x) { return gelu(x); });
  unary("gelu_tanh", OpId::Gelu, [](const Tensor& x) { return gelu(x, "tanh"); });
  unary("silu", OpId::Silu, [](const Tensor& x) { return silu(x); });
  unary("softplus", OpId::Softplus, [](const Tensor& x) { return softplus(x, 2.0, 3.0); });

  // binary arithmetic
  binary("add", OpId::Add, [](const Tensor& a, const Tensor& b) { return add(a, b, 0.5); });
  binary("sub", OpId::Sub, [](const Tensor& a, const Tensor& b) { return sub(a, b); });
  binary("mul", OpId::Mul, [](const Tensor& a, const Tensor& b) { return mul(a, b); });
  binary(
      "div", OpId::Div, [](const Tensor& a, const Tensor& b) { return div(a, b); }, Domain::Any,
      Domain::AwayFromZero);
  binary(
      "pow", OpId::Pow, [](const Tensor& a, const Tensor& b) { return pow(a, b); },
      Domain::Positive, Domain::Any);
  binary("minimum", OpId::Minimum, [](const Tensor& a, const Tensor& b) { return minimum(a, b); });
  binary("maximum", OpId::Maximum, [](const Tensor& a, const Tensor& b) { return maximum(a, b); });
  binary(
      "remainder", OpId::Remainder,
      [](const Tensor& a, const Tensor& b) { return remainder(a, b); }, Domain::Any,
      Domain::Positive);
  t.push_back({"floor_divide",
               OpId::FloorDivide,
               {{3, 4}, {3, 4}},
               [](const Ts& x) { return Ts{floor_divide(x[0] * 4, x[1])}; },
               {Domain::Any, Domain::Positive},
               false});
  t.push_back({"where", OpId::Where, {{3, 4}, {3, 1}}, [](const Ts& x) {
                 return Ts{where(x[0] > 0.1, x[0], x[1])};
               }});
  t.push_back(
      {"lerp", OpId::Add, {{3, 4}, {3, 4}}, [](const Ts& x) { return Ts{lerp(x[0], x[1], 0.3)}; }});

  // comparisons (not differentiable: checked for equal results across dtypes)
  for (auto [name, op] :
       std::vector<std::pair<std::string, OpId>>{{"eq", OpId::Eq},
                                                 {"ne", OpId::Ne},
                                                 {"lt", OpId::Lt},
                                                 {"le", OpId::Le},
                                                 {"gt", OpId::Gt},
                                                 {"ge", OpId::Ge},
                                                 {"logical_and", OpId::LogicalAnd},
                                                 {"logical_or", OpId::LogicalOr}}) {
    OpId o = op;
    t.push_back({name,
                 o,
                 {{3, 4}, {4}},
                 [o](const Ts& x) {
                   Tensor a = round(x[0]), b = round(x[1]);  // equal values occur
                   switch (o) {
                     case OpId::Eq:
                       return Ts{eq(a, b)};
                     case OpId::Ne:
                       return Ts{ne(a, b)};
                     case OpId::Lt:
                       return Ts{lt(a, b)};
                     case OpId::Le:
                       return Ts{le(a, b)};
                     case OpId::Gt:
                       return Ts{gt(a, b)};
                     case OpId::Ge:
                       return Ts{ge(a, b)};
                     case OpId::LogicalAnd:
                       return Ts{logical_and(a, b)};
                     default:
                       return Ts{logical_or(a, b)};
                   }
                 },
                 {},
                 false});
  }
  t.push_back({"logical_not",
               OpId::LogicalNot,
               {{3, 4}},
               [](const Ts& x) { return Ts{logical_not(round(x[0]))}; },
               {},
               false});
  t.push_back({"isnan",
               OpId::IsNan,
               {{3, 4}},
               [](const Ts& x) { return Ts{isnan(log(x[0]))}; },
               {},
               false});
  t.push_back({"isfinite",
               OpId::IsFinite,
               {{3, 4}},
               [](const Ts& x) { return Ts{isfinite(log(x[0]))}; },
               {},
               false});

  // reductions
  t.push_back({"sum", OpId::Sum, {{3, 4}}, [](const Ts& x) { return Ts{sum(x[0])}; }});
  t.push_back({"sum/dims", OpId::Sum, {{2, 3, 4}}, [](const Ts& x) {
                 return Ts{sum(x[0], {0, 2}, true)};
               }});
  t.push_back({"mean", OpId::Mean, {{2, 3, 4}}, [](const Ts& x) { return Ts{mean(x[0], {-1})}; }});
  t.push_back({"prod",
               OpId::Prod,
               {{3, 4}},
               [](const Ts& x) { return Ts{prod(x[0], 1)}; },
               {Domain::AwayFromZero}});
  t.push_back({"prod/all",
               OpId::Prod,
               {{2, 3}},
               [](const Ts& x) { return Ts{prod(x[0])}; },
               {Domain::AwayFromZero}});
  t.push_back({"var", OpId::Var, {{3, 4}}, [](const Ts& x) { return Ts{var(x[0], {1})}; }});
  t.push_back(
      {"var/unbiased0", OpId::Var, {{3, 4}}, [](const Ts& x) { return Ts{var(x[0], {}, 0)}; }});
  t.push_back(
      {"std", OpId::Std, {{3, 4}}, [](const Ts& x) { return Ts{std(x[0], {0}, 1, true)}; }});
  t.push_back({"amax", OpId::Amax, {{3, 4}}, [](const Ts& x) { return Ts{amax(x[0], {1})}; }});
  t.push_back({"amin", OpId::Amin, {{3, 4}}, [](const Ts& x) { return Ts{amin(x[0], {0})}; }});
  t.push_back({"max/all", OpId::Amax, {{3, 4}}, [](const Ts& x) { return Ts{max(x[0])}; }});
  t.push_back({"min/all", OpId::Amin, {{3, 4}}, [](const Ts& x) { return Ts{min(x[0])}; }});
  t.push_back(
      {"max/dim", OpId::MaxDim, {{3, 4}}, [](const Ts& x) { return Ts{max(x[0], 1).first}; }});
  t.push_back({"min/dim", OpId::MinDim, {{3, 4}}, [](const Ts& x) {
                 return Ts{min(x[0], 0, true).first};
               }});
  t.push_back({"argmax",
               OpId::MaxDim,
               {{3, 4}},
               [](const Ts& x) { return Ts{argmax(x[0], 1)}; },
               {},
               false});
  t.push_back(
      {"argmin", OpId::MinDim, {{3, 4}}, [](const Ts& x) { return Ts{argmin(x[0])}; }, {}, false});
  t.push_back({"logsumexp", OpId::Logsumexp, {{3, 4}}, [](const Ts& x) {
                 return Ts{logsumexp(x[0], {1})};
               }});
  t.push_back({"norm", OpId::Norm, {{3, 4}}, [](const Ts& x) { return Ts{norm(x[0])}; }});
  t.push_back({"norm/p1",
               OpId::Norm,
               {{3, 4}},
               [](const Ts& x) { return Ts{norm(x[0], 1, {1})}; },
               {Domain::AwayFromZero}});
  t.push_back({"norm/p3",
               OpId::Norm,
               {{3, 4}},
               [](const Ts& x) { return Ts{norm(x[0], 3, {0}, true)}; },
               {Domain::AwayFromZero}});
  t.push_back({"norm/inf", OpId::Norm, {{3, 4}}, [](const Ts& x) {
                 return Ts{norm(x[0], INFINITY, {1})};
               }});

  // softmax
  t.push_back(
      {"softmax", OpId::Softmax, {{3, 4}}, [](const Ts& x) { return Ts{softmax(x[0], 1)}; }});
  t.push_back(
      {"softmax/dim0", OpId::Softmax, {{3, 4}}, [](const Ts& x) { return Ts{softmax(x[0], 0)}; }});
  t.push_back({"log_softmax", OpId::LogSoftmax, {{3, 4}}, [](const Ts& x) {
                 return Ts{log_softmax(x[0], -1)};
               }});

  // matrix products
  t.push_back({"bmm",
               OpId::Bmm,
               {{2, 3, 4}, {2, 4, 5}},
               [](const Ts& x) { return Ts{bmm(x[0], x[1])}; },
               {},
               true,
               true,
               1e-5,
               5e-2,
               1e-2});
  t.push_back({"matmul",
               OpId::Matmul,
               {{3, 4}, {4, 2}},
               [](const Ts& x) { return Ts{matmul(x[0], x[1])}; },
               {},
               true,
               true,
               1e-5,
               5e-2,
               1e-2});
  t.push_back({"matmul/batched_broadcast",
               OpId::Matmul,
               {{2, 1, 3, 4}, {3, 4, 2}},
               [](const Ts& x) { return Ts{matmul(x[0], x[1])}; },
               {},
               true,
               true,
               1e-5,
               5e-2,
               1e-2});
  t.push_back({"matmul/vector",
               OpId::Matmul,
               {{4}, {2, 4, 3}},
               [](const Ts& x) { return Ts{matmul(x[0], x[1])}; },
               {},
               true,
               true,
               1e-5,
               5e-2,
               1e-2});
  t.push_back({"linear",
               OpId::Linear,
               {{2, 3, 4}, {5, 4}, {5}},
               [](const Ts& x) { return Ts{linear(x[0], x[1], x[2])}; },
               {},
               true,
               true,
               1e-5,
               5e-2,
               1e-2});

  // shape and views (checked through an op that reads them)
  t.push_back({"view/permute", OpId::Copy, {{2, 3, 4}}, [](const Ts& x) {
                 return Ts{x[0].permute({2, 0, 1}).reshape({4, 6}) * 1.5};
               }});
  t.push_back({"view/slice_step", OpId::Copy, {{6, 4}}, [](const Ts& x) {
                 return Ts{x[0].slice(0, 1, 6, 2).select(1, 2) * 2.0};
               }});
  t.push_back({"view/expand", OpId::Copy, {{3, 1}}, [](const Ts& x) {
                 return Ts{x[0].expand({2, 3, 4}) * x[0].squeeze().unsqueeze(0).t()};
               }});
  t.push_back({"contiguous", OpId::Copy, {{3, 4}}, [](const Ts& x) {
                 return Ts{x[0].t().contiguous().narrow(0, 1, 2)};
               }});
  t.push_back({"to_dtype", OpId::Copy, {{3, 4}}, [](const Ts& x) {
                 return Ts{x[0].to(DType::Float64) * x[0].to(DType::Float64)};
               }});

  // joining
  t.push_back({"cat", OpId::Cat, {{2, 3}, {4, 3}}, [](const Ts& x) {
                 return Ts{cat({x[0], x[1]}, 0) * 2.0};
               }});
  t.push_back({"cat/dim1", OpId::Cat, {{2, 3}, {2, 1}}, [](const Ts& x) {
                 return Ts{cat({x[0], x[1], x[0]}, -1)};
               }});
  t.push_back({"stack", OpId::Stack, {{2, 3}, {2, 3}}, [](const Ts& x) {
                 return Ts{stack({x[0], x[1]}, 1)};
               }});
  t.push_back({"split", OpId::Cat, {{5, 3}}, [](const Ts& x) {
                 auto parts = split(x[0], 2, 0);
                 return Ts{parts[0] * 1.0, parts[2] * 3.0};
               }});
  t.push_back({"chunk", OpId::Cat, {{3, 6}}, [](const Ts& x) {
                 auto parts = chunk(x[0], 3, 1);
                 return Ts{parts[1] * parts[2]};
               }});

  // indexing
  t.push_back({"index_select", OpId::IndexSelect, {{4, 3}}, [](const Ts& x) {
                 return Ts{index_select(x[0], 0, idx(x[0], {3, 0, 3}))};
               }});
  t.push_back({"index_add", OpId::IndexAdd, {{4, 3}, {3, 3}}, [](const Ts& x) {
                 return Ts{index_add(x[0], 0, idx(x[0], {1, 3, 1}), x[1], 0.5)};
               }});
  t.push_back({"gather", OpId::Gather, {{3, 4}}, [](const Ts& x) {
                 return Ts{gather(x[0], 1, idx(x[0], {0, 3, 3, 1, 2, 0}, {3, 2}))};
               }});
  t.push_back({"scatter", OpId::Scatter, {{3, 4}, {3, 2}}, [](const Ts& x) {
                 return Ts{scatter(x[0], 1, idx(x[0], {0, 3, 2, 1, 2, 0}, {3, 2}), x[1])};
               }});
  t.push_back({"scatter/value", OpId::Scatter, {{3, 4}}, [](const Ts& x) {
                 return Ts{scatter(x[0], 0, idx(x[0], {2, 0, 1, 1}, {1, 4}), Scalar(0.25))};
               }});
  t.push_back({"scatter_add", OpId::ScatterAdd, {{3, 4}, {3, 2}}, [](const Ts& x) {
                 return Ts{scatter_add(x[0], 1, idx(x[0], {0, 3, 3, 3, 2, 0}, {3, 2}), x[1])};
               }});
  t.push_back({"masked_fill", OpId::MaskedFill, {{3, 4}}, [](const Ts& x) {
                 return Ts{masked_fill(x[0], x[0] > 0.3, Scalar(-1.5))};
               }});
  t.push_back({"one_hot", OpId::OneHot, {{3, 4}}, [](const Ts& x) {
                 return Ts{one_hot(idx(x[0], {2, 0, 1}), 4).to(x[0].dtype()) * x[0]};
               }});
  t.push_back({"embedding", OpId::Embedding, {{5, 3}}, [](const Ts& x) {
                 return Ts{embedding(x[0], idx(x[0], {4, 0, 4, 2}, {2, 2}))};
               }});
  // x[...] and x[...] = v (src/ops/advanced_indexing.cpp, index_put.cpp): composites over the
  // index_select / index_add and scatter kernels, listed under those ops.
  t.push_back({"index/advanced", OpId::IndexSelect, {{2, 3, 4}}, [](const Ts& x) {
                 return Ts{index(x[0], {idx(x[0], {1, 0, 1}), Slice{}, idx(x[0], {3, 3, 0})})};
               }});
  t.push_back({"index/mask_and_slice", OpId::IndexSelect, {{2, 3, 4}}, [](const Ts& x) {
                 Tensor mask = idx(x[0], {1, 0, 1, 1, 0, 1}, {2, 3}).to(DType::Bool);
                 return Ts{index(x[0], {mask, Slice{1, std::nullopt, 2}})};
               }});
  t.push_back({"index_put", OpId::Scatter, {{3, 4}, {2, 1}}, [](const Ts& x) {
                 return Ts{index_put(x[0], {idx(x[0], {2, 0}), Slice{}}, x[1])};
               }});
  t.push_back({"index_put/accumulate", OpId::ScatterAdd, {{3, 4}, {3}}, [](const Ts& x) {
                 return Ts{index_put(x[0], {Slice{}, idx(x[0], {1, 3, 1})}, x[1], true)};
               }});

  // more shapes and corner cases per family
  auto mm_tol = [&](OpCase c) {
    c.tol_bf16 = 5e-2;
    c.tol_f16 = 1e-2;
    t.push_back(std::move(c));
  };
  mm_tol(
      {"matmul/dot", OpId::Matmul, {{4}, {4}}, [](const Ts& x) { return Ts{matmul(x[0], x[1])}; }});
  mm_tol({"matmul/matrix_vector", OpId::Matmul, {{3, 4}, {4}}, [](const Ts& x) {
            return Ts{matmul(x[0], x[1])};
          }});
  mm_tol({"matmul/batched_matrix", OpId::Matmul, {{2, 3, 4}, {4, 2}}, [](const Ts& x) {
            return Ts{matmul(x[0], x[1])};
          }});
  mm_tol({"matmul/transposed", OpId::Matmul, {{2, 4, 3}, {4, 2}}, [](const Ts& x) {
            return Ts{matmul(x[0].transpose(-1, -2), x[1])};
          }});
  mm_tol({"linear/no_bias_1d", OpId::Linear, {{4}, {5, 4}}, [](const Ts& x) {
            return Ts{linear(x[0], x[1])};
          }});
  mm_tol({"dot", OpId::Matmul, {{5}, {5}}, [](const Ts& x) { return Ts{dot(x[0], x[1])}; }});
  mm_tol({"outer", OpId::Matmul, {{3}, {4}}, [](const Ts& x) { return Ts{outer(x[0], x[1])}; }});
  t.push_back({"cat/with_empty", OpId::Cat, {{2, 3}, {2, 1}, {0}}, [](const Ts& x) {
                 return Ts{cat({x[0], x[2], x[1]}, 1)};
               }});
  t.push_back({"masked_fill/tensor_value", OpId::MaskedFill, {{3, 4}, {}}, [](const Ts& x) {
                 Tensor mask = on_device_of(x[0], tensor({1.0, 0.0, 0.0, 1.0})) > 0.5;
                 return Ts{masked_fill(x[0], mask, x[1])};
               }});
  t.push_back(
      {"prod/one_zero",
       OpId::Prod,
       {{3, 4}},
       [](const Ts& x) {
         Tensor holes = on_device_of(x[0], tensor({1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1}, {3, 4}));
         return Ts{prod(x[0] * holes.to(x[0].dtype()), 1)};
       },
       {Domain::AwayFromZero}});
  t.push_back({"prod/two_zeros_all",
               OpId::Prod,
               {{5}},
               [](const Ts& x) {
                 Tensor holes = on_device_of(x[0], tensor({1, 0, 1, 0, 1}));
                 return Ts{prod(x[0] * holes.to(x[0].dtype()))};
               },
               {Domain::AwayFromZero}});
  t.push_back({"sum/0d", OpId::Sum, {{}}, [](const Ts& x) { return Ts{sum(x[0], {0}) * 3.0}; }});
  t.push_back({"sum_to", OpId::Sum, {{2, 3, 4}}, [](const Ts& x) {
                 return Ts{sum_to(x[0], {3, 1})};
               }});
  t.push_back({"softmax/3d_dim0", OpId::Softmax, {{2, 3, 4}}, [](const Ts& x) {
                 return Ts{softmax(x[0], 0)};
               }});
  t.push_back({"log_softmax/transposed", OpId::LogSoftmax, {{3, 4}}, [](const Ts& x) {
                 return Ts{log_softmax(x[0].t(), 1)};
               }});
  t.push_back({"index_select/dim1_repeated", OpId::IndexSelect, {{2, 3}}, [](const Ts& x) {
                 return Ts{index_select(x[0], 1, idx(x[0], {2, 2, 0}))};
               }});
  t.push_back({"scatter/src_larger", OpId::Scatter, {{3, 4}, {3, 3}}, [](const Ts& x) {
                 return Ts{scatter(x[0], 1, idx(x[0], {0, 3, 1, 2}, {2, 2}), x[1])};
               }});

  // fused batch normalisation: nn::functional::batch_norm runs OpId::BatchNorm (CPU kernel,
  // cuDNN on CUDA). Running statistics are made per call, in the input's dtype and device.
  auto bn_stats = [](const Tensor& like, std::vector<double> v) {
    return on_device_of(like, tensor(v)).to(like.dtype());
  };
  t.push_back({"batch_norm/train",
               OpId::BatchNorm,
               {{4, 3, 2, 2}, {3}, {3}},
               [](const Ts& x) {
                 return Ts{nn::functional::batch_norm(x[0], {}, {}, x[1], x[2], true, 0.1, 1e-5)};
               },
               {Domain::Any, Domain::Positive, Domain::Any}});
  t.push_back({"batch_norm/eval",
               OpId::BatchNorm,
               {{4, 3, 5}, {3}, {3}},
               [bn_stats](const Ts& x) {
                 Tensor rm = bn_stats(x[0], {0.1, -0.2, 0.3}), rv = bn_stats(x[0], {0.5, 1.5, 2});
                 return Ts{nn::functional::batch_norm(x[0], rm, rv, x[1], x[2], false, 0.1, 1e-5)};
               },
               {Domain::Any, Domain::Positive, Domain::Any}});
  t.push_back({"batch_norm/channels_last", OpId::BatchNorm, {{2, 3, 2, 3}}, [](const Ts& x) {
                 Tensor xc = contiguous(x[0], MemoryFormat::ChannelsLast);
                 return Ts{nn::functional::batch_norm(xc, {}, {}, {}, {}, true, 0.1, 1e-5)};
               }});
  // Running statistics are outputs here (their update is not differentiable).
  t.push_back({"batch_norm/running_stats",
               OpId::BatchNorm,
               {{6, 4}},
               [bn_stats](const Ts& x) {
                 Tensor rm = bn_stats(x[0], {0.1, -0.2, 0.3, 0}), rv = bn_stats(x[0], {1, 2, 3, 4});
                 Tensor y = nn::functional::batch_norm(x[0], rm, rv, {}, {}, true, 0.3, 1e-5);
                 return Ts{y, rm, rv};
               },
               {},
               false});

  // convolution (src/ops/conv.cpp): forward through the functional API, the two gradients as
  // ops of their own (conv_transpose2d runs ConvBackwardData)
  auto conv_tol = [&](OpCase c) {
    c.tol_bf16 = 5e-2;
    c.tol_f16 = 1e-2;
    t.push_back(std::move(c));
  };
  conv_tol({"conv2d", OpId::ConvForward, {{2, 4, 4, 3}, {4, 2, 3, 2}, {4}}, [](const Ts& x) {
              return Ts{nn::functional::conv2d(x[0], x[1], x[2], {2, 1}, {1, 1}, {1, 2}, 2)};
            }});
  conv_tol(
      {"conv2d/channels_last", OpId::ConvForward, {{2, 3, 4, 5}, {4, 3, 2, 2}}, [](const Ts& x) {
         Tensor xc = contiguous(x[0], MemoryFormat::ChannelsLast);
         return Ts{nn::functional::conv2d(xc, x[1], {}, {1, 1}, {1, 0})};
       }});
  conv_tol({"conv1d", OpId::ConvForward, {{2, 3, 7}, {4, 3, 3}, {4}}, [](const Ts& x) {
              return Ts{nn::functional::conv1d(x[0], x[1], x[2], 2, 1)};
            }});
  conv_tol({"conv3d", OpId::ConvForward, {{1, 2, 3, 4, 4}, {3, 2, 2, 3, 2}}, [](const Ts& x) {
              return Ts{nn::functional::conv3d(x[0], x[1], {}, {1, 2, 1}, {1, 1, 0})};
            }});
  conv_tol({"conv_transpose2d",
            OpId::ConvBackwardData,
            {{2, 4, 3, 3}, {4, 3, 3, 3}, {3}},
            [](const Ts& x) {
              return Ts{nn::functional::conv_transpose2d(x[0], x[1], x[2], {2, 2}, {1, 1}, {1, 0})};
            }});
  conv_tol({"convolution_backward_weight",
            OpId::ConvBackwardWeight,
            {{2, 4, 5, 5}, {2, 6, 3, 3}},
            [](const Ts& x) {
              ConvGeometry g;
              g.stride = {2, 2, 1};
              g.padding = {1, 1, 0};
              g.groups = 2;
              return Ts{convolution_backward_weight(x[0], x[1], g, {6, 2, 3, 3})};
            }});

  // dropout with a fixed seed: the same mask in every dtype
  t.push_back({"dropout", OpId::Dropout, {{8, 8}}, [](const Ts& x) {
                 manual_seed(1234);
                 return Ts{dropout(x[0], 0.3, true)};
               }});
  return t;
}

}  // namespace

const std::vector<OpCase>& op_table() {
  static const std::vector<OpCase> table = build();
  return table;
}

std::string op_row_name(const ::testing::TestParamInfo<size_t>& info) {
  std::string n = op_table()[info.param].name;
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

std::vector<Tensor> make_inputs(const OpCase& c, DType dtype, Device device, uint64_t seed,
                                bool non_contiguous) {
  manual_seed(seed);
  std::vector<Tensor> out;
  for (size_t i = 0; i < c.shapes.size(); ++i) {
    const Shape& shape = c.shapes[i];
    Domain d = i < c.domains.size() ? c.domains[i] : Domain::Any;
    Tensor u = rand(shape, TensorOptions(DType::Float64));
    Tensor v;
    switch (d) {
      case Domain::Any:
        v = randn(shape, TensorOptions(DType::Float64));
        break;
      case Domain::Positive:
        v = u * 2.0 + 0.5;
        break;
      case Domain::Unit:
        v = u * 1.8 - 0.9;
        break;
      case Domain::AwayFromZero: {
        Tensor s = randn(shape, TensorOptions(DType::Float64));
        v = where(s >= 0, u * 1.5 + 0.5, -(u * 1.5 + 0.5));
        break;
      }
    }
    Tensor input = v.to(dtype).to(device);
    if (non_contiguous && !shape.empty()) {
      const int64_t last = int64_t(shape.size()) - 1;
      if (last >= 1) {  // stored transposed, viewed back: same values, not row-major
        input = input.transpose(0, last).contiguous().transpose(0, last);
      } else {  // every other element of a buffer twice as long
        Tensor wide = zeros({shape[0] * 2}, TensorOptions(dtype, device));
        wide.slice(0, 0, std::nullopt, 2).copy_(input);
        input = wide.slice(0, 0, std::nullopt, 2);
      }
    }
    out.push_back(input);
  }
  return out;
}

}  // namespace kiln::testing
