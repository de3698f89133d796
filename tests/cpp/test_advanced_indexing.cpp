// NumPy/PyTorch-style indexing (include/kiln/indexing.h): basic views, advanced int and bool
// indices and their layout, index_put_ / index_put (repeated indices, accumulate,
// non-contiguous targets), nonzero, errors, gradients. Expected values are worked by hand on
// arange tensors and agree with PyTorch 1.13.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kiln/gradcheck.h"
#include "kiln/indexing.h"
#include "test_util.h"

namespace kiln {
namespace {

using namespace kiln::testing;

// arange(numel) in `shape`: element [i, j, k] of a [2, 3, 4] tensor is 12 i + 4 j + k.
Tensor ar(const Shape& shape, DType dtype = DType::Float32) {
  return arange(double(numel_of(shape)), dtype).reshape(shape);
}
Tensor I(const std::vector<int64_t>& v, const Shape& shape = {}) { return tensor(v, shape); }
Tensor M(const std::vector<int64_t>& v, const Shape& shape = {}) {
  return tensor(v, shape).to(DType::Bool);
}
const std::optional<int64_t> none = std::nullopt;

// ---------------- basic indexing: views ----------------

TEST(BasicIndexing, IntegersSelectAndShareStorage) {
  Tensor x = ar({2, 3, 4});
  Tensor r = index(x, {1});
  expect_exact_values(r, {3, 4}, {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
  EXPECT_TRUE(r.shares_storage(x));
  EXPECT_EQ(r.storage_offset(), 12);
  expect_exact_values(index(x, {-1, -2}), {4}, {16, 17, 18, 19});
  expect_exact_values(index(x, {0, 2, -1}), {}, {11});
  // A 0-d integer tensor is an integer (a view, as in PyTorch).
  Tensor s = index(x, {scalar_tensor(1, DType::Int64), scalar_tensor(2, DType::Int32)});
  expect_exact_values(s, {4}, {20, 21, 22, 23});
  EXPECT_TRUE(s.shares_storage(x));
  // Writing through the view writes x.
  index(x, {0, 1}).fill_(-1);
  expect_exact_values(index(x, {0}), {3, 4}, {0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11});
}

TEST(BasicIndexing, SlicesWithStepsAndClamping) {
  Tensor x = ar({2, 3, 4});
  Tensor r = index(x, {Slice{}, Slice{1, none}, Slice{none, none, 2}});  // x[:, 1:, ::2]
  expect_exact_values(r, {2, 2, 2}, {4, 6, 8, 10, 16, 18, 20, 22});
  EXPECT_TRUE(r.shares_storage(x));
  expect_exact_values(index(x, {0, 0, Slice{1, none, 2}}), {2}, {1, 3});
  expect_exact_values(index(x, {1, 2, Slice{-3, -1}}), {2}, {21, 22});
  expect_exact_values(index(x, {0, 0, Slice{none, none, 3}}), {2}, {0, 3});
  expect_exact_values(index(x, {0, 0, Slice{-100, 100, 5}}), {1}, {0});  // clamped like Python
  EXPECT_EQ(index(x, {Slice{3, 1}}).shape(), (Shape{0, 3, 4}));          // empty, not an error
  EXPECT_EQ(index(x, {Slice{5, none}}).shape(), (Shape{0, 3, 4}));
  EXPECT_EQ(index(x, {Slice{1, 2, INT64_MAX}}).shape(), (Shape{1, 3, 4}));
}

TEST(BasicIndexing, NoneAndEllipsis) {
  Tensor x = ar({2, 3, 4});
  EXPECT_EQ(index(x, {NewAxis{}, EllipsisIndex{}, NewAxis{}}).shape(), (Shape{1, 2, 3, 4, 1}));
  expect_exact_values(index(x, {EllipsisIndex{}, 1}), {2, 3}, {1, 5, 9, 13, 17, 21});
  expect_exact_values(index(x, {1, EllipsisIndex{}, 3}), {3}, {15, 19, 23});
  // x[0, None, :, None, 2]: [3, 4] -> [1, 3, 4] -> [1, 3, 1, 4] -> [1, 3, 1].
  expect_exact_values(index(x, {0, NewAxis{}, Slice{}, NewAxis{}, 2}), {1, 3, 1}, {2, 6, 10});
  // x[()] and x[...] are aliases: new tensors over the same storage.
  for (const auto& idx : {std::vector<TensorIndex>{}, std::vector<TensorIndex>{EllipsisIndex{}}}) {
    Tensor a = index(x, idx);
    EXPECT_FALSE(a.is_same(x));
    EXPECT_TRUE(a.shares_storage(x));
    EXPECT_EQ(a.shape(), x.shape());
  }
  Tensor s = scalar_tensor(5.0);
  EXPECT_EQ(index(s, {NewAxis{}}).shape(), (Shape{1}));
  EXPECT_EQ(index(s, {EllipsisIndex{}}).shape(), (Shape{}));
}

// ---------------- advanced indexing ----------------

TEST(AdvancedIndexing, OneIntTensor) {
  Tensor x = ar({3, 4});
  Tensor r = index(x, {I({2, 0, -1})});  // repeats and a negative index
  expect_exact_values(r, {3, 4}, {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  EXPECT_FALSE(r.shares_storage(x));
  // A 2-D index replaces the indexed dim in place: x[:, [[0], [3]]] is [3, 2, 1].
  expect_exact_values(index(x, {Slice{}, I({0, 3}, {2, 1})}), {3, 2, 1}, {0, 3, 4, 7, 8, 11});
  expect_exact_values(index(x, {Slice{}, I({3, 1}).to(DType::Int32)}), {3, 2}, {3, 1, 7, 5, 11, 9});
  EXPECT_EQ(index(x, {I({}, {0})}).shape(), (Shape{0, 4}));
  // Integer dtypes are kept.
  Tensor xi = ar({4}, DType::Int64);
  Tensor ri = index(xi, {I({3, 3})});
  EXPECT_EQ(ri.dtype(), DType::Int64);
  expect_exact_values(ri, {2}, {3, 3});
}

TEST(AdvancedIndexing, TwoIntTensorsAdjacentAndNot) {
  Tensor x2 = ar({3, 4});
  expect_exact_values(index(x2, {I({0, 2}), I({1, 3})}), {2}, {1, 11});
  // Index tensors broadcast: [[0], [2]] with [1, 3] is [2, 2].
  expect_exact_values(index(x2, {I({0, 2}, {2, 1}), I({1, 3})}), {2, 2}, {1, 3, 9, 11});
  Tensor x = ar({2, 3, 4});
  // Adjacent (dims 1, 2): the broadcast dims stay at position 1.
  expect_exact_values(index(x, {Slice{}, I({0, 2}), I({1, 3})}), {2, 2}, {1, 11, 13, 23});
  // Not adjacent (dims 0 and 2): they go first. x[[0, 1], :, [1, 3]] is [2, 3].
  expect_exact_values(index(x, {I({0, 1}), Slice{}, I({1, 3})}), {2, 3}, {1, 5, 9, 15, 19, 23});
  // None in between also separates them: x[[0, 1], None, [1, 2]] is [2, 1, 4].
  expect_exact_values(index(x, {I({0, 1}), NewAxis{}, I({1, 2})}), {2, 1, 4},
                      {4, 5, 6, 7, 20, 21, 22, 23});
  // As in PyTorch, an integer is a select done first, not an advanced index: x[[0, 1], 1,
  // [1, 3]] indexes the adjacent dims of x[:, 1] (and x4[:, i, :, 0] keeps i in place, where
  // NumPy would put it first).
  expect_exact_values(index(x, {I({0, 1}), 1, I({1, 3})}), {2}, {5, 19});
  EXPECT_EQ(index(ar({2, 3, 4, 5}), {Slice{}, I({1, 0, 1}), Slice{}, 0}).shape(), (Shape{2, 3, 4}));
}

TEST(AdvancedIndexing, BoolMasks) {
  Tensor x2 = ar({3, 4});
  expect_exact_values(index(x2, {x2 > 5.0}), {6}, {6, 7, 8, 9, 10, 11});
  Tensor x = ar({2, 3, 4});
  // A 2-D mask consumes dims 0 and 1: positions (0, 0), (0, 2), (1, 1).
  expect_exact_values(index(x, {M({1, 0, 1, 0, 1, 0}, {2, 3})}), {3, 4},
                      {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19});
  // A mask on the last dim, after an ellipsis.
  expect_exact_values(index(x, {EllipsisIndex{}, M({1, 0, 0, 1})}), {2, 3, 2},
                      {0, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 23});
  // A mask on a middle dim, with a slice after it.
  expect_exact_values(index(x, {1, M({1, 0, 1}), Slice{1, 3}}), {2, 2}, {13, 14, 21, 22});
  // A 2-D mask followed by a slice and an integer (NumPy semantics: the mask takes two dims).
  expect_exact_values(index(x, {M({0, 1, 0, 0, 0, 1}, {2, 3}), 2}), {2}, {6, 22});
  // Mask and int tensor broadcast together: mask [T, F] -> [0], with [2, 0].
  expect_exact_values(index(x, {M({1, 0}), I({2, 0})}), {2, 4}, {8, 9, 10, 11, 0, 1, 2, 3});
  // uint8 tensors are masks too (PyTorch's deprecated byte masks).
  expect_exact_values(index(ar({3}), {I({0, 1, 1}).to(DType::UInt8)}), {2}, {1, 2});
  // 0-d masks add a dim: of size 1 when true, 0 when false.
  EXPECT_EQ(index(x, {scalar_tensor(true)}).shape(), (Shape{1, 2, 3, 4}));
  EXPECT_EQ(index(x, {scalar_tensor(false)}).shape(), (Shape{0, 2, 3, 4}));
  expect_exact_values(index(scalar_tensor(7.0), {scalar_tensor(true)}), {1}, {7});
  EXPECT_EQ(index(x, {M({0, 0}), Slice{}}).shape(), (Shape{0, 3, 4}));
}

TEST(AdvancedIndexing, MixedWithSlicesAndNonContiguousInput) {
  Tensor x = ar({2, 3, 4});
  // x[1, [0, 2], 1:3]
  expect_exact_values(index(x, {1, I({0, 2}), Slice{1, 3}}), {2, 2}, {13, 14, 21, 22});
  // x[None, :, [2], ::3] is [1, 2, 1, 2]: the index dim stays in place.
  expect_exact_values(index(x, {NewAxis{}, Slice{}, I({2}), Slice{none, none, 3}}), {1, 2, 1, 2},
                      {8, 11, 20, 23});
  Tensor xt = ar({3, 4}).t();  // [4, 3], xt[i, j] = 4 j + i
  expect_exact_values(index(xt, {I({3, 0}), Slice{1, none}}), {2, 2}, {7, 11, 4, 8});
  expect_exact_values(index(xt, {xt > 8.0}), {3}, {9, 10, 11});
}

TEST(Nonzero, PositionsAndTuple) {
  Tensor x = tensor({0.0, 1.0, 0.0, 2.0, 0.0, NAN}, {2, 3});
  expect_exact_values(nonzero(x), {3, 2}, {0, 1, 1, 0, 1, 2});
  EXPECT_EQ(nonzero(x).dtype(), DType::Int64);
  auto cols = nonzero_tuple(x);
  ASSERT_EQ(cols.size(), 2u);
  expect_exact_values(cols[0], {3}, {0, 1, 1});
  expect_exact_values(cols[1], {3}, {1, 0, 2});
  EXPECT_EQ(nonzero(scalar_tensor(5.0)).shape(), (Shape{1, 0}));
  EXPECT_EQ(nonzero(scalar_tensor(0.0)).shape(), (Shape{0, 0}));
  expect_exact_values(nonzero_tuple(scalar_tensor(5.0))[0], {1}, {0});
  expect_exact_values(nonzero(ar({4}) - 2.0), {3, 1}, {0, 1, 3});
  EXPECT_EQ(nonzero(zeros({0, 3})).shape(), (Shape{0, 2}));
}

// ---------------- index_put_ / index_put ----------------

TEST(IndexPut, RepeatedIndicesWithAndWithoutAccumulate) {
  Tensor x = zeros({5});
  index_put_(x, {I({1, 3, 1})}, tensor({10.0, 20.0, 30.0}));
  expect_exact_values(x, {5}, {0, 30, 0, 20, 0});  // the last write wins
  index_put_(x, {I({1, 3, 1})}, tensor({10.0, 20.0, 30.0}), true);
  expect_exact_values(x, {5}, {0, 70, 0, 40, 0});  // adds, repeats accumulate
  Tensor y = ar({2, 3});
  index_put_(y, {I({0, 0, 1}), I({1, 1, 2})}, 1.0, true);  // a scalar value, broadcast
  expect_exact_values(y, {2, 3}, {0, 3, 2, 3, 4, 6});
}

TEST(IndexPut, BasicIndicesWriteTheView) {
  Tensor x = ar({2, 3});
  const uint64_t v0 = x.version();
  index_put_(x, {0, Slice{1, none}}, tensor({7.0, 8.0}));
  expect_exact_values(x, {2, 3}, {0, 7, 8, 3, 4, 5});
  EXPECT_GT(x.version(), v0);
  // Leading size-1 dims of the value are dropped, like Python's setitem.
  index_put_(x, {Slice{}, 2}, tensor({-1.0, -2.0}, {1, 1, 2}));
  expect_exact_values(x, {2, 3}, {0, 7, -1, 3, 4, -2});
  index_put_(x, {EllipsisIndex{}}, 0.5);
  expect_exact_values(x, {2, 3}, {0.5, 0.5, 0.5, 0.5, 0.5, 0.5});
  // Overlapping source and destination.
  Tensor z = ar({5});
  index_put_(z, {Slice{1, none}}, index(z, {Slice{none, 4}}));
  expect_exact_values(z, {5}, {0, 0, 1, 2, 3});
}

TEST(IndexPut, MasksBroadcastAndCasts) {
  Tensor x = ar({3, 4});
  index_put_(x, {x > 6.0}, 0.0);
  expect_exact_values(x, {3, 4}, {0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0});
  Tensor y = zeros({2, 3});
  index_put_(y, {Slice{}, I({0, 2})}, tensor({1.0, 2.0}));  // [2] broadcast to [2, 2]
  expect_exact_values(y, {2, 3}, {1, 0, 2, 1, 0, 2});
  // Values are cast to x's dtype.
  Tensor xi = zeros({3}, DType::Int64);
  index_put_(xi, {I({1})}, tensor({2.7}));
  expect_exact_values(xi, {3}, {0, 2, 0});
  EXPECT_EQ(xi.dtype(), DType::Int64);
  Tensor xd = zeros({2}, DType::Float64);
  index_put_(xd, {M({0, 1})}, tensor({0.25}, {}, DType::Float32));
  expect_exact_values(xd, {2}, {0, 0.25});
}

TEST(IndexPut, NonContiguousTarget) {
  Tensor base = ar({2, 3});
  Tensor xt = base.t();  // [3, 2] = [[0, 3], [1, 4], [2, 5]]
  index_put_(xt, {I({0, 2}), I({1, 0})}, tensor({10.0, 20.0}));
  expect_exact_values(xt, {3, 2}, {0, 10, 1, 4, 20, 5});
  expect_exact_values(base, {2, 3}, {0, 1, 20, 10, 4, 5});  // written through the view
  index_put_(xt, {xt > 4.0}, -1.0, true);
  expect_exact_values(xt, {3, 2}, {0, 9, 1, 4, 19, 4});
  // Every other element of a strided view, with a basic + advanced index.
  Tensor buf = zeros({2, 6});
  Tensor v = buf.slice(1, 0, 6, 2);  // [2, 3], stride 2
  index_put_(v, {1, I({2, 0})}, tensor({5.0, 6.0}));
  expect_exact_values(buf, {2, 6}, {0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 5, 0});
}

TEST(IndexPut, OutOfPlaceLeavesTheInput) {
  Tensor x = ar({2, 3});
  Tensor r = index_put(x, {I({1}), Slice{none, 2}}, tensor({9.0, 8.0}));
  expect_exact_values(r, {2, 3}, {0, 1, 2, 9, 8, 5});
  expect_exact_values(x, {2, 3}, {0, 1, 2, 3, 4, 5});
  expect_exact_values(index_put(x.t(), {I({0, 0})}, 1.0, true), {3, 2}, {2, 5, 1, 4, 2, 5});
  expect_exact_values(index_put(scalar_tensor(1.0), {EllipsisIndex{}}, 4.0), {}, {4});
}

// ---------------- errors ----------------

TEST(IndexingErrors, OutOfRangeIndices) {
  Tensor x = ar({2, 3, 4});
  EXPECT_THROW_MSG(index(x, {5}), IndexError, "index", "index 5", "dimension 0 with size 2",
                   "[2, 3, 4]");
  EXPECT_THROW_MSG(index(x, {0, -4}), IndexError, "index -4", "dimension 1 with size 3");
  EXPECT_THROW_MSG(index(x, {Slice{}, I({0, 3})}), IndexError, "index 3", "dimension 1 with size 3",
                   "[2, 3, 4]");
  EXPECT_THROW_MSG(index(x, {NewAxis{}, 0, 0, I({-5})}), IndexError, "index -5",
                   "dimension 2 with size 4");
  EXPECT_THROW_MSG(index_put_(x, {1, 7}, 0.0), IndexError, "index_put_", "index 7");
  EXPECT_THROW_MSG(index_put(x, {I({2})}, 0.0), IndexError, "index_put", "index 2");
}

TEST(IndexingErrors, IndexValuesAreCheckedOnlyWhenRead) {
  // As in PyTorch and NumPy: an empty result reads nothing, so nothing is out of range.
  EXPECT_EQ(index(zeros({0, 3}), {Slice{}, I({5})}).shape(), (Shape{0, 1}));
  EXPECT_EQ(index(zeros({2, 3}), {I({5}), Slice{0, 0}}).shape(), (Shape{1, 0}));
  EXPECT_EQ(index(zeros({2, 3}), {I({}, {0}), I({7}, {1, 1})}).shape(), (Shape{1, 0}));
  Tensor x = zeros({2, 3});
  index_put_(x, {I({5}), Slice{0, 0}}, 1.0);
  expect_exact_values(x, {2, 3}, {0, 0, 0, 0, 0, 0});
  EXPECT_THROW_MSG(index(zeros({2, 3}), {I({5}), Slice{0, 1}}), IndexError, "index 5");
}

TEST(IndexingErrors, MalformedIndices) {
  Tensor x = ar({2, 3, 4});
  EXPECT_THROW_MSG(index(x, {M({1, 0, 1, 0, 1, 0, 1, 0}, {2, 4})}), IndexError, "index",
                   "mask [2, 4]", "[2, 3]", "[2, 3, 4]");
  EXPECT_THROW_MSG(index(x, {0, 0, 0, 0}), IndexError, "index", "too many indices", "[2, 3, 4]");
  EXPECT_THROW_MSG(index(x, {M({1, 0, 1, 0, 1, 0}, {2, 3}), 0, 0}), IndexError, "too many indices");
  EXPECT_THROW_MSG(index(x, {Slice{none, none, 0}}), ValueError, "index",
                   "step must be greater than zero", "[2, 3, 4]");
  EXPECT_THROW_MSG(index(x, {Slice{none, none, -1}}), ValueError, "step must be greater than zero");
  EXPECT_THROW_MSG(index(x, {EllipsisIndex{}, EllipsisIndex{}}), IndexError, "single ellipsis");
  EXPECT_THROW_MSG(index(x, {tensor({1.0})}), IndexError, "index", "int64", "float32");
  EXPECT_THROW_MSG(index(x, {I({0, 1}), I({0, 1, 2})}), IndexError, "shape mismatch", "[2]", "[3]");
  EXPECT_THROW_MSG(index(x, {Tensor()}), ValueError, "index", "undefined");
}

TEST(IndexingErrors, IndexPutValuesAndTargets) {
  Tensor x = ar({2, 3});
  EXPECT_THROW_MSG(index_put_(x, {I({0, 1})}, tensor({1.0, 2.0})), ValueError, "index_put_", "[2]",
                   "[2, 3]");
  EXPECT_THROW_MSG(index_put(x, {0}, ones({2, 3})), ValueError, "index_put", "[2, 3]", "[3]");
  EXPECT_THROW_MSG(index_put_(x, {M({1, 0, 1}, {3})}, 0.0), IndexError, "index_put_", "mask [3]",
                   "[2]");
  Tensor e = zeros({1}).expand({4});
  EXPECT_THROW_MSG(index_put_(e, {I({0})}, 1.0), Error, "index_put_", "share one memory");
  Tensor leaf = zeros({3}).requires_grad_();
  EXPECT_THROW_MSG(index_put_(leaf, {0}, 1.0), Error, "index_put_", "leaf");
  // x was left unchanged by every failed call.
  expect_exact_values(x, {2, 3}, {0, 1, 2, 3, 4, 5});
}

// ---------------- gradients ----------------

Tensor f64(const Shape& shape, uint64_t seed) {
  manual_seed(seed);
  return randn(shape, DType::Float64);
}

void expect_gradcheck(const autograd::Function& f, std::vector<Tensor> inputs) {
  for (Tensor& t : inputs) t.requires_grad_(true);
  GradcheckOptions opt;
  opt.check_second_order = true;
  GradcheckResult r = gradcheck(f, inputs, opt);
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(IndexingGradients, IndexGradcheck) {
  const std::vector<std::vector<TensorIndex>> cases = {
      {Slice{}, I({2, 0, 2}), Slice{1, none}},  // repeated indices accumulate
      {I({0, 1}), Slice{}, I({3, 3})},          // not adjacent
      {M({1, 0, 1, 1, 0, 1}, {2, 3})},          // a mask over two dims
      {1, Slice{none, none, 2}, NewAxis{}},     // basic only: views
  };
  for (const auto& idx : cases) {
    expect_gradcheck(
        [idx](const std::vector<Tensor>& in) { return std::vector<Tensor>{index(in[0], idx)}; },
        {f64({2, 3, 4}, 1)});
    // The same on a non-contiguous input.
    expect_gradcheck(
        [idx](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{index(in[0].permute({2, 1, 0}), idx)};
        },
        {f64({4, 3, 2}, 2)});
  }
}

TEST(IndexingGradients, IndexPutGradcheck) {
  auto put = [](std::vector<TensorIndex> idx, bool acc) {
    return [idx, acc](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{index_put(in[0], idx, in[1], acc) * 1.5};
    };
  };
  // Distinct positions without accumulate (with repeats, which write wins is not smooth).
  expect_gradcheck(put({I({2, 0}), Slice{}}, false), {f64({3, 4}, 3), f64({2, 4}, 4)});
  expect_gradcheck(put({Slice{}, I({1, 3})}, false), {f64({3, 4}, 5), f64({2}, 6)});  // broadcast
  expect_gradcheck(put({I({2, 0, 2}), Slice{}}, true), {f64({3, 4}, 7), f64({3, 1}, 8)});
  expect_gradcheck(put({M({1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1}, {3, 4})}, false),
                   {f64({3, 4}, 9), f64({}, 10)});
  expect_gradcheck(put({0, Slice{1, 3}}, true), {f64({3, 4}, 11), f64({1, 1, 2}, 12)});
  // Non-contiguous x.
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{index_put(in[0].t(), {I({1, 3}), I({0, 2})}, in[1])};
      },
      {f64({3, 4}, 13), f64({2}, 14)});
}

TEST(IndexingGradients, IndexBackwardValues) {
  Tensor x = ar({3, 2}, DType::Float64).requires_grad_();
  index(x, {I({0, 2, 0})}).sum().backward();
  expect_exact_values(x.grad(), {3, 2}, {2, 2, 0, 0, 1, 1});
  // index_put: no gradient to x where it was overwritten; value's gradient summed over the
  // positions it was broadcast to.
  Tensor base = ones({3}, DType::Float64).requires_grad_();
  Tensor w = ones({1}, DType::Float64).requires_grad_();
  Tensor y = index_put(base, {I({0, 2})}, w);
  (y * tensor({1.0, 10.0, 100.0}, {}, DType::Float64)).sum().backward();
  expect_exact_values(base.grad(), {3}, {0, 10, 0});
  expect_exact_values(w.grad(), {1}, {101});
}

TEST(IndexingGradients, InPlaceRecordsHistory) {
  Tensor x = ar({2, 3}, DType::Float64).requires_grad_();
  Tensor y = x * 1.0;
  Tensor mask = M({1, 0, 0, 0, 1, 1}, {2, 3});
  index_put_(y, {mask}, 0.0);
  expect_exact_values(y, {2, 3}, {0, 1, 2, 3, 0, 0});
  y.sum().backward();
  expect_exact_values(x.grad(), {2, 3}, {0, 1, 1, 1, 0, 0});

  // Gradients reach the value; accumulated positions keep x's gradient.
  Tensor a = ar({4}, DType::Float64).requires_grad_();
  Tensor v = tensor({2.0, 3.0}, {}, DType::Float64).requires_grad_();
  Tensor b = a * 2.0;
  index_put_(b, {I({3, 1})}, v * 1.0, true);
  expect_exact_values(b, {4}, {0, 5, 4, 8});
  (b * tensor({1.0, 10.0, 100.0, 1000.0}, {}, DType::Float64)).sum().backward();
  expect_exact_values(a.grad(), {4}, {2, 20, 200, 2000});
  expect_exact_values(v.grad(), {2}, {1000, 10});

  // Advanced getitem returns a copy: it does not block later in-place writes to y.
  Tensor x2 = ar({3}, DType::Float64).requires_grad_();
  Tensor y2 = x2 * 1.0;
  Tensor taken = index(y2, {I({0, 0})});
  index_put_(y2, {I({0})}, 5.0);
  (taken.sum() + y2.sum()).backward();
  expect_exact_values(x2.grad(), {3}, {2, 1, 1});

  // The existing in-place rules apply: views recording history are refused.
  Tensor y3 = ar({2, 3}, DType::Float64).requires_grad_() * 1.0;
  Tensor row = index(y3, {0});
  EXPECT_THROW_MSG(index_put_(row, {0}, 1.0), Error, "index_put_", "view");
  // Without grad mode a leaf can be written (an optimizer-style update).
  Tensor p = zeros({3}, DType::Float64).requires_grad_();
  {
    NoGradGuard no_grad;
    index_put_(p, {I({2})}, 4.0);
  }
  expect_exact_values(p, {3}, {0, 0, 4});
}

}  // namespace
}  // namespace kiln
