// fp64 finite-difference gradcheck of every differentiable row of the op table, on contiguous
// and on non-contiguous inputs, and of each backward itself (second order).
#include <set>

#include "op_table.h"
#include "test_util.h"

namespace kiln::testing {
namespace {

class Gradcheck : public ::testing::TestWithParam<size_t> {};

std::vector<Tensor> as_leaves(std::vector<Tensor> xs) {
  for (Tensor& x : xs) x.requires_grad_(true);
  return xs;
}

TEST_P(Gradcheck, FirstAndSecondOrder) {
  const OpCase& c = op_table()[GetParam()];
  if (!c.differentiable) GTEST_SKIP() << c.name << " is not differentiable";
  for (bool non_contiguous : {false, true}) {
    SCOPED_TRACE(c.name + (non_contiguous ? " (non-contiguous)" : " (contiguous)"));
    auto inputs = as_leaves(make_inputs(c, DType::Float64, Device::cpu(), 7, non_contiguous));
    GradcheckOptions opt;
    opt.check_second_order = c.second_order;
    GradcheckResult r = gradcheck(c.fn, inputs, opt);
    EXPECT_TRUE(r.ok) << r.message;
  }
}

INSTANTIATE_TEST_SUITE_P(OpTable, Gradcheck, ::testing::Range<size_t>(0, op_table().size()),
                         op_row_name);

// "Adding an op touches one line in the test table": every op with a kernel or a composite
// definition has a row.
TEST(OpTable, CoversEveryOp) {
  std::set<OpId> covered;
  for (const OpCase& c : op_table()) covered.insert(c.op);
  for (const OpInfo& info : all_ops()) {
    if (info.kind == OpKind::Factory || info.kind == OpKind::Random) continue;
    EXPECT_TRUE(covered.count(info.id)) << "op '" << info.name << "' has no row in op_table.cpp";
  }
}

// The checker must be able to fail: a wrong backward is caught.
TEST(GradcheckUtility, DetectsAWrongGradient) {
  Tensor x = randn({3}, TensorOptions(DType::Float64)).requires_grad_(true);
  // exp(x) with its gradient hooked to be doubled.
  autograd::Function f = [](const std::vector<Tensor>& in) {
    Tensor y = exp(in[0]);
    if (y.requires_grad()) y.register_hook([](const Tensor& g) { return g * 2.0; });
    return std::vector<Tensor>{y};
  };
  GradcheckResult r = gradcheck(f, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("mismatch"), std::string::npos) << r.message;
}

TEST(GradcheckUtility, RejectsFloat32) {
  Tensor x = randn({3}).requires_grad_(true);
  EXPECT_THROW_MSG(gradcheck([](const std::vector<Tensor>& in) { return in; }, {x}), TypeError,
                   "float64");
}

}  // namespace
}  // namespace kiln::testing
