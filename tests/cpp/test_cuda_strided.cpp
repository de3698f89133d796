// The index arithmetic of the CUDA elementwise kernels (cuda/common/strided.h), checked on the
// CPU: StridedIndexer is plain C++ with host/device annotations, so its offsets are compared here
// with offsets computed directly from each tensor's shape and strides, for every element. Runs
// in every build, GPU or not.
#include <string>
#include <vector>

#include "common/strided.h"
#include "test_util.h"

namespace kiln::testing {
namespace {

// Offset (in elements, from the view's first element) of row-major linear index i of t.
int64_t reference_offset(const Tensor& t, int64_t i) {
  int64_t offset = 0;
  for (size_t d = t.shape().size(); d-- > 0;) {
    const int64_t size = t.shape()[d];
    offset += (i % size) * t.strides()[d];
    i /= size;
  }
  return offset;
}

// Every element of every operand, through both offsets() and offset(i, k).
template <int N>
void expect_offsets_match(const std::array<const Tensor*, N>& ts, const std::string& what) {
  const cuda::StridedIndexer<N> ix = cuda::make_indexer<N>(ts, "test");
  const int64_t n = ts[0]->numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t got[N];
    ix.offsets(i, got);
    for (int k = 0; k < N; ++k) {
      const int64_t want = reference_offset(*ts[k], i);
      ASSERT_EQ(got[k], want) << what << ": operand " << k << ", element " << i;
      ASSERT_EQ(ix.offset(i, k), want) << what << ": operand " << k << ", element " << i;
    }
  }
}

Tensor make(const Shape& shape) { return empty(shape, TensorOptions(DType::Float32)); }

TEST(CudaStrided, ContiguousMergesIntoOneDim) {
  Tensor x = make({2, 3, 4});
  const auto ix = cuda::make_indexer<1>({&x}, "test");
  EXPECT_EQ(ix.ndim, 1);
  EXPECT_EQ(ix.sizes[0], 24);
  EXPECT_EQ(ix.strides[0][0], 1);
  expect_offsets_match<1>({&x}, "contiguous");
}

TEST(CudaStrided, Transposed) {
  Tensor x = make({3, 5}).t();  // [5, 3], strides [1, 5]
  expect_offsets_match<1>({&x}, "transposed");
  Tensor y = make({2, 3, 4, 5}).permute({3, 1, 0, 2});
  expect_offsets_match<1>({&y}, "permuted");
  // Two operands of one shape with different layouts: nothing merges that one of them breaks.
  Tensor out = make({5, 3});
  expect_offsets_match<2>({&out, &x}, "contiguous out, transposed input");
  const auto ix = cuda::make_indexer<2>({&out, &x}, "test");
  EXPECT_EQ(ix.ndim, 2);
}

TEST(CudaStrided, SlicedWithStepAndOffset) {
  Tensor base = make({6, 10, 4});
  Tensor x = base.slice(1, 1, 9, 3);  // [6, 3, 4], strides [40, 12, 1], offset 4
  ASSERT_EQ(x.shape(), (Shape{6, 3, 4}));
  expect_offsets_match<1>({&x}, "slice step 3");
  Tensor y = base.narrow(0, 1, 4).slice(2, 0, 4, 2);  // [4, 10, 2], strides [40, 4, 2]
  expect_offsets_match<1>({&y}, "narrow + slice step 2");
  // Rows with a gap merge only within each row: [6, 10, 4] -> narrow last dim to 3.
  Tensor z = base.narrow(2, 0, 3);
  const auto ix = cuda::make_indexer<1>({&z}, "test");
  EXPECT_EQ(ix.ndim, 2);  // [60, 3]: dims 0 and 1 merge, the gapped last dim does not
  EXPECT_EQ(ix.sizes[0], 60);
  EXPECT_EQ(ix.sizes[1], 3);
  expect_offsets_match<1>({&z}, "narrowed last dim");
}

TEST(CudaStrided, BroadcastStrideZero) {
  Tensor out = make({3, 4, 5});
  Tensor row = make({5}).expand({3, 4, 5});        // strides [0, 0, 1]
  Tensor col = make({3, 1, 1}).expand({3, 4, 5});  // strides [1, 0, 0]
  Tensor scalar = make({}).expand({3, 4, 5});      // all strides 0
  expect_offsets_match<4>({&out, &row, &col, &scalar}, "broadcast operands");
  // A broadcast number alone: one merged dim of stride 0.
  const auto ix = cuda::make_indexer<1>({&scalar}, "test");
  EXPECT_EQ(ix.ndim, 1);
  EXPECT_EQ(ix.strides[0][0], 0);
  for (int64_t i : {0, 7, 59}) EXPECT_EQ(ix.offset(i), 0);
}

TEST(CudaStrided, SizeOneDimsAreDropped) {
  Tensor x = make({1, 5, 1, 3});
  const auto ix = cuda::make_indexer<1>({&x}, "test");
  EXPECT_EQ(ix.ndim, 1);
  EXPECT_EQ(ix.sizes[0], 15);
  expect_offsets_match<1>({&x}, "size-1 dims");
  // Size-1 dims with odd strides (a select of a transposed tensor) must not matter.
  Tensor y = make({4, 1, 3}).permute({2, 1, 0});  // [3, 1, 4], strides [1, 3, 3]
  expect_offsets_match<1>({&y}, "size-1 dim with arbitrary stride");
}

TEST(CudaStrided, EmptyAndZeroDim) {
  Tensor e = make({2, 0, 3});
  Tensor e2 = make({2, 0, 3});
  EXPECT_NO_THROW((void)cuda::make_indexer<2>({&e, &e2}, "test"));
  expect_offsets_match<2>({&e, &e2}, "empty");  // no element: nothing to visit

  Tensor s = make({});
  const auto ix = cuda::make_indexer<1>({&s}, "test");
  EXPECT_EQ(ix.ndim, 0);
  EXPECT_EQ(ix.offset(0), 0);
  int64_t o[1] = {-1};
  ix.offsets(0, o);
  EXPECT_EQ(o[0], 0);

  Tensor ones = make({1, 1, 1});
  EXPECT_EQ(cuda::make_indexer<1>({&ones}, "test").ndim, 0);
}

// A permutation that reverses n dims of size 2: every stride grows inward, so no two neighbours
// merge.
Tensor unmergeable(int64_t n) {
  Shape dims(size_t(n), 2);
  std::vector<int64_t> order;
  for (int64_t d = n; d-- > 0;) order.push_back(d);
  return make(dims).permute(order);
}

TEST(CudaStrided, TwelveUnmergeableDimsAreAccepted) {
  Tensor x = unmergeable(12);
  const auto ix = cuda::make_indexer<1>({&x}, "test");
  EXPECT_EQ(ix.ndim, 12);
  expect_offsets_match<1>({&x}, "12 dims");
}

TEST(CudaStrided, MoreThanTwelveDimsAfterMergingIsAnError) {
  Tensor x = unmergeable(13);
  EXPECT_THROW_MSG((void)cuda::make_indexer<1>({&x}, "my_op"), Error, "my_op", "13 dims",
                   "at most 12", "CPU");
  // The same tensor made contiguous merges into one dim.
  Tensor c = x.contiguous();
  EXPECT_EQ(cuda::make_indexer<1>({&c}, "test").ndim, 1);
  // Many dims that do merge are fine: 20 dims of a contiguous tensor.
  Tensor many = make(Shape(20, 2));
  EXPECT_EQ(cuda::make_indexer<1>({&many}, "test").ndim, 1);
}

}  // namespace
}  // namespace kiln::testing
