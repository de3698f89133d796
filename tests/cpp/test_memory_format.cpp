// Memory formats (kiln/memory_format.h): channels-last strides equal torch's for the same shapes
// (the numbers below are what torch 1.13 prints for x.contiguous(memory_format=...).stride()),
// conversions keep values, and elementwise ops keep a channels-last input channels-last (as
// torch's TensorIterator) with the same values as on contiguous tensors.
#include <vector>

#include "kiln/memory_format.h"
#include "test_util.h"

namespace kiln::testing {
namespace {

Tensor arange_shaped(const Shape& shape, DType dtype = DType::Float32) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return arange(0, double(n), 1, TensorOptions(dtype)).reshape(shape);
}

TEST(MemoryFormat, ChannelsLastStridesAreTorchs) {
  const Tensor x = arange_shaped({2, 3, 4, 5});
  const Tensor cl = contiguous(x, MemoryFormat::ChannelsLast);
  EXPECT_EQ(cl.strides(), (Shape{60, 1, 15, 3}));
  EXPECT_TRUE(is_contiguous(cl, MemoryFormat::ChannelsLast));
  EXPECT_FALSE(cl.is_contiguous());
  EXPECT_FALSE(is_contiguous(x, MemoryFormat::ChannelsLast));
  expect_close(cl, x, 0, 0, "values unchanged");
  EXPECT_TRUE(contiguous(cl, MemoryFormat::ChannelsLast).is_same(cl));  // already: itself
  const Tensor back = contiguous(cl, MemoryFormat::Contiguous);
  EXPECT_EQ(back.strides(), (Shape{60, 20, 5, 1}));
  expect_close(back, x, 0, 0, "round trip");

  const Tensor x5 = arange_shaped({2, 3, 4, 5, 6});
  const Tensor cl3 = contiguous(x5, MemoryFormat::ChannelsLast3d);
  EXPECT_EQ(cl3.strides(), (Shape{360, 1, 90, 18, 3}));
  EXPECT_TRUE(is_contiguous(cl3, MemoryFormat::ChannelsLast3d));
  expect_close(cl3, x5, 0, 0, "3d values unchanged");

  const Tensor e = empty({2, 3, 4, 5}, {}, MemoryFormat::ChannelsLast);
  EXPECT_EQ(e.strides(), (Shape{60, 1, 15, 3}));
  // Size-1 dims get torch's strides too: [2, 1, 4, 5] -> (20, 1, 5, 1), also contiguous.
  const Tensor e1 = empty({2, 1, 4, 5}, {}, MemoryFormat::ChannelsLast);
  EXPECT_EQ(e1.strides(), (Shape{20, 1, 5, 1}));
  EXPECT_TRUE(e1.is_contiguous());
  EXPECT_EQ(suggest_memory_format(e1), MemoryFormat::Contiguous);  // ambiguous: contiguous
  EXPECT_EQ(empty({2, 3, 1, 1}, {}, MemoryFormat::ChannelsLast).strides(), (Shape{3, 1, 3, 3}));
}

TEST(MemoryFormat, ToMemoryFormatGivesTheFormatsExactStrides) {
  // torch's x.to(memory_format=...) restrides even where contiguous() would keep x as it is.
  const Tensor x = arange_shaped({2, 3, 1, 1});
  EXPECT_TRUE(contiguous(x, MemoryFormat::ChannelsLast).is_same(x));
  const Tensor cl = to_memory_format(x, MemoryFormat::ChannelsLast);
  EXPECT_EQ(cl.strides(), (Shape{3, 1, 3, 3}));
  EXPECT_TRUE(to_memory_format(cl, MemoryFormat::ChannelsLast).is_same(cl));
  EXPECT_EQ(to_memory_format(cl, MemoryFormat::Contiguous).strides(), (Shape{3, 1, 1, 1}));
  EXPECT_EQ(to_memory_format(arange_shaped({2, 1, 4, 5}), MemoryFormat::ChannelsLast).strides(),
            (Shape{20, 1, 5, 1}));
  EXPECT_TRUE(to_memory_format(x, MemoryFormat::Contiguous).is_same(x));
  EXPECT_TRUE(to_memory_format(x, MemoryFormat::Preserve).is_same(x));
  expect_close(cl, x, 0, 0, "values");
  EXPECT_THROW_MSG(to_memory_format(x, MemoryFormat::ChannelsLast3d), ValueError, "5-D");
}

TEST(MemoryFormat, PreserveKeepsDenseStrides) {
  // torch's preserve_format: a dense tensor's strides are kept verbatim, others go contiguous.
  const Tensor cl = to_memory_format(arange_shaped({2, 3, 1, 1}), MemoryFormat::ChannelsLast);
  EXPECT_EQ(empty_like(cl, {}, MemoryFormat::Preserve).strides(), (Shape{3, 1, 3, 3}));
  const Tensor t = arange_shaped({3, 4}).t();
  EXPECT_EQ(empty_like(t, {}, MemoryFormat::Preserve).strides(), (Shape{1, 4}));
  const Tensor gaps = arange_shaped({4, 6}).slice(1, 0, 6, 2);
  EXPECT_EQ(empty_like(gaps, {}, MemoryFormat::Preserve).strides(), (Shape{3, 1}));
  EXPECT_EQ(empty_like(t, {}, MemoryFormat::Contiguous).strides(), (Shape{3, 1}));
  // Dtype conversions preserve too.
  EXPECT_EQ(cl.to(DType::Float64).strides(), (Shape{3, 1, 3, 3}));
  EXPECT_EQ(t.to(DType::Float64).strides(), (Shape{1, 4}));
  expect_close(t.to(DType::Float64), t, 0, 0, "values");
}

TEST(MemoryFormat, SuggestAndErrors) {
  const Tensor x = arange_shaped({2, 3, 4, 5});
  EXPECT_EQ(suggest_memory_format(x), MemoryFormat::Contiguous);
  EXPECT_EQ(suggest_memory_format(contiguous(x, MemoryFormat::ChannelsLast)),
            MemoryFormat::ChannelsLast);
  EXPECT_EQ(suggest_memory_format(x.transpose(2, 3)), MemoryFormat::Contiguous);  // neither
  EXPECT_EQ(suggest_memory_format(
                contiguous(arange_shaped({1, 2, 3, 4, 5}), MemoryFormat::ChannelsLast3d)),
            MemoryFormat::ChannelsLast3d);
  // A permuted view that happens to be channels-last counts as channels-last.
  const Tensor nhwc = arange_shaped({2, 4, 5, 3}).permute({0, 3, 1, 2});
  EXPECT_TRUE(is_contiguous(nhwc, MemoryFormat::ChannelsLast));
  EXPECT_TRUE(contiguous(nhwc, MemoryFormat::ChannelsLast).is_same(nhwc));

  EXPECT_THROW_MSG(contiguous(arange_shaped({2, 3, 4}), MemoryFormat::ChannelsLast), ValueError,
                   "channels_last", "4-D", "[2, 3, 4]");
  EXPECT_THROW_MSG(empty({2, 3, 4, 5}, {}, MemoryFormat::ChannelsLast3d), ValueError,
                   "channels_last_3d", "5-D");
  EXPECT_THROW_MSG(is_contiguous(x, MemoryFormat::Preserve), Error, "preserve_format");
  EXPECT_FALSE(is_contiguous(arange_shaped({2, 3, 4}), MemoryFormat::ChannelsLast));
  // Preserve keeps channels-last and makes anything else contiguous.
  EXPECT_TRUE(is_contiguous(contiguous(nhwc, MemoryFormat::Preserve), MemoryFormat::ChannelsLast));
  EXPECT_TRUE(contiguous(x.transpose(2, 3), MemoryFormat::Preserve).is_contiguous());
}

TEST(MemoryFormat, ElementwiseFormatRule) {
  const Shape s{2, 3, 4, 5};
  const Tensor c = arange_shaped(s);
  const Tensor cl = contiguous(c, MemoryFormat::ChannelsLast);
  const Tensor bias = arange_shaped({1, 3, 1, 1});
  const Tensor ambiguous = empty({2, 1, 4, 5}, {}, MemoryFormat::ChannelsLast);
  EXPECT_EQ(elementwise_memory_format(s, {&cl}), MemoryFormat::ChannelsLast);
  EXPECT_EQ(elementwise_memory_format(s, {&cl, &bias}), MemoryFormat::ChannelsLast);
  EXPECT_EQ(elementwise_memory_format(s, {&cl, &c}), MemoryFormat::Contiguous);
  EXPECT_EQ(elementwise_memory_format(s, {&c}), MemoryFormat::Contiguous);
  EXPECT_EQ(elementwise_memory_format({2, 1, 4, 5}, {&ambiguous}), MemoryFormat::Contiguous);
  EXPECT_EQ(elementwise_memory_format({2, 3, 4}, {&c}), MemoryFormat::Contiguous);
}

// The result's layout and values of f on channels-last inputs, against f on contiguous ones.
template <class F>
void expect_keeps_channels_last(F f, const std::vector<Tensor>& inputs, const std::string& what,
                                MemoryFormat cl = MemoryFormat::ChannelsLast) {
  std::vector<Tensor> converted;
  for (const Tensor& t : inputs)
    converted.push_back(t.dim() == 4 || t.dim() == 5 ? contiguous(t, cl) : t);
  const Tensor got = f(converted), want = f(inputs);
  EXPECT_TRUE(is_contiguous(got, cl)) << what << ": strides " << shape_str(got.strides());
  EXPECT_FALSE(got.is_contiguous()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  expect_close(got.to(DType::Float64), want.to(DType::Float64), 0, 0, what);
}

TEST(MemoryFormat, ElementwiseOpsKeepChannelsLast) {
  const Tensor x = randn({2, 3, 4, 5}), y = randn({2, 3, 4, 5}), b = randn({1, 3, 1, 1});
  using V = std::vector<Tensor>;
  expect_keeps_channels_last([](const V& v) { return relu(v[0]); }, {x}, "relu");
  expect_keeps_channels_last([](const V& v) { return exp(v[0]); }, {x}, "exp");
  expect_keeps_channels_last([](const V& v) { return v[0] + v[1]; }, {x, y}, "add");
  expect_keeps_channels_last([](const V& v) { return v[0] * v[1]; }, {x, b}, "mul broadcast");
  expect_keeps_channels_last([](const V& v) { return v[0] * 2.5; }, {x}, "mul by a number");
  expect_keeps_channels_last([](const V& v) { return gt(v[0], v[1]); }, {x, y}, "gt (bool)");
  expect_keeps_channels_last([](const V& v) { return where(gt(v[0], v[1]), v[0], v[1]); }, {x, y},
                             "where");
  expect_keeps_channels_last([](const V& v) { return v[0].to(DType::Float16); }, {x}, "to(f16)");
  expect_keeps_channels_last([](const V& v) { return relu(v[0] + v[1]); }, {x, y},
                             "chain add -> relu");
  const Tensor x5 = randn({2, 3, 2, 3, 4}), y5 = randn({2, 3, 2, 3, 4});
  expect_keeps_channels_last([](const V& v) { return v[0] - v[1]; }, {x5, y5}, "sub 5-D",
                             MemoryFormat::ChannelsLast3d);
}

TEST(MemoryFormat, MixedFormatsGiveContiguous) {
  const Tensor x = randn({2, 3, 4, 5}), y = randn({2, 3, 4, 5});
  const Tensor got = contiguous(x, MemoryFormat::ChannelsLast) + y;
  EXPECT_TRUE(got.is_contiguous());
  expect_close(got, x + y, 0, 0, "values");
}

TEST(MemoryFormat, GradientsThroughChannelsLast) {
  const Tensor x0 = randn({2, 3, 4, 5});
  Tensor x = contiguous(x0, MemoryFormat::ChannelsLast).detach().requires_grad_();
  const Tensor w = randn({2, 3, 4, 5});
  const Tensor y = relu(x * 3.0) + x;
  EXPECT_TRUE(is_contiguous(y, MemoryFormat::ChannelsLast));
  (y * w).sum().backward();
  // d/dx (relu(3x) + x) * w = (3 * [x > 0] + 1) * w
  const Tensor want = (gt(x0, zeros_like(x0)).to(DType::Float32) * 3.0 + 1.0) * w;
  expect_close(x.grad(), want, 1e-6, 1e-6, "grad");
  // Channels-last results are not views: in-place ops on them may record history (a
  // residual block's `out += identity; out.relu_()`), as on any result.
  Tensor a = contiguous(x0, MemoryFormat::ChannelsLast).detach().requires_grad_();
  Tensor h = contiguous(a * 1.0, MemoryFormat::ChannelsLast);
  h.add_(a);
  h.relu_();
  Tensor c = contiguous(a * 2.0, MemoryFormat::Contiguous);  // a copy back, with history
  (h * w + c).sum().backward();
  const Tensor positive = gt(x0, zeros_like(x0)).to(DType::Float32);
  expect_close(a.grad(), positive * w * 2.0 + 2.0, 1e-6, 1e-6, "grad through in-place ops");
  // In-place ops on a channels-last tensor write through its layout.
  Tensor z = contiguous(x0, MemoryFormat::ChannelsLast);
  z.mul_(2.0);
  EXPECT_TRUE(is_contiguous(z, MemoryFormat::ChannelsLast));
  expect_close(z, x0 * 2.0, 0, 0, "mul_");
}

}  // namespace
}  // namespace kiln::testing
