// The engine features DDP is built on: post-accumulate-grad hooks on leaves (run once .grad
// holds the pass's whole gradient), final callbacks (autograd::queue_callback, run when the
// backward pass has finished its graph) and autograd::reaches (find_unused_parameters).
#include <string>
#include <vector>

#include "test_util.h"

namespace kiln::testing {
namespace {

Tensor leaf(const std::vector<double>& v) {
  return tensor(v, {int64_t(v.size())}, DType::Float64).requires_grad_(true);
}

TEST(PostAccumulateGradHook, SeesTheAccumulatedGradientOnce) {
  Tensor x = leaf({1, -2, 3});
  std::vector<std::vector<double>> seen;
  x.register_post_accumulate_grad_hook([&](const Tensor& p) {
    EXPECT_TRUE(p.is_same(x));
    seen.push_back(p.grad().to_vector());
  });
  // x reaches the loss along two paths: the hook must see their sum, once.
  Tensor y = sum(x * x) + sum(x * 3.0);
  y.backward(Tensor(), /*retain_graph=*/true);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], (std::vector<double>{5, -1, 9}));  // 2x + 3
  y.backward();  // accumulates: the hook sees the running total
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], (std::vector<double>{10, -2, 18}));
}

TEST(PostAccumulateGradHook, RunsAfterPreHooksAndCanBeRemoved) {
  Tensor x = leaf({2});
  x.register_hook([](const Tensor& g) { return g * 10.0; });  // replaces the gradient first
  double seen = 0;
  int calls = 0;
  int h = x.register_post_accumulate_grad_hook([&](const Tensor& p) {
    seen = p.grad().item();
    ++calls;
  });
  sum(x * x).backward();
  EXPECT_EQ(seen, 40.0);
  x.remove_post_accumulate_grad_hook(h);
  sum(x * x).backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(x.grad().item(), 80.0);
}

TEST(PostAccumulateGradHook, NotRunByGradAndRefusedOnNonLeaves) {
  Tensor x = leaf({1, 2});
  int calls = 0;
  x.register_post_accumulate_grad_hook([&](const Tensor&) { ++calls; });
  autograd::grad({sum(x * x)}, {x});  // .grad untouched, so nothing was accumulated
  EXPECT_EQ(calls, 0);
  Tensor y = x * 2.0;
  EXPECT_THROW_MSG(y.register_post_accumulate_grad_hook([](const Tensor&) {}), Error, "non-leaf");
  Tensor c = tensor({1.0, 2.0});
  EXPECT_THROW_MSG(c.register_post_accumulate_grad_hook([](const Tensor&) {}), Error,
                   "does not require grad");
}

TEST(QueueCallback, RunsOnceAfterEveryNodeInOrder) {
  Tensor a = leaf({1, 2});
  Tensor b = leaf({3});
  std::vector<std::string> log;
  int queued = 0;
  // Queued by the first hook that fires; it must see both leaves' gradients.
  auto hook = [&](const Tensor&) {
    if (queued++) return;
    autograd::queue_callback([&] {
      log.push_back("first a=" + std::to_string(a.grad().to_vector()[1]) +
                    " b=" + std::to_string(b.grad().item()));
      autograd::queue_callback([&] { log.push_back("queued by a callback"); });
    });
    autograd::queue_callback([&] { log.push_back("second"); });
  };
  a.register_post_accumulate_grad_hook(hook);
  b.register_post_accumulate_grad_hook(hook);
  (sum(a * b) * 2.0).backward();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], "first a=6.000000 b=6.000000");  // d/da = 2b = 6, d/db = 2 (1 + 2) = 6
  EXPECT_EQ(log[1], "second");
  EXPECT_EQ(log[2], "queued by a callback");
}

TEST(QueueCallback, RunsForGradAndFailsOutsideBackward) {
  EXPECT_THROW_MSG(autograd::queue_callback([] {}), Error, "no backward pass is running");
  Tensor x = leaf({1, 2});
  Tensor y = x * 3.0;
  int runs = 0;
  y.register_hook([&](const Tensor&) {
    autograd::queue_callback([&] { ++runs; });
    return Tensor();
  });
  autograd::grad({sum(y)}, {x});
  EXPECT_EQ(runs, 1);
}

TEST(QueueCallback, DroppedWhenBackwardFailsAndNestedPassesKeepTheirOwn) {
  Tensor x = leaf({1, 2});
  int runs = 0;
  Tensor y = x * 2.0;
  y.register_hook([&](const Tensor&) -> Tensor {
    autograd::queue_callback([&] { ++runs; });
    throw Error("hook failed");
  });
  EXPECT_THROW_MSG(sum(y).backward(), Error, "hook failed");
  EXPECT_EQ(runs, 0);
  sum(x * 1.0).backward();  // a later pass does not run the failed pass's callbacks
  EXPECT_EQ(runs, 0);

  // A backward run inside a hook has its own callbacks; the outer ones wait for the outer pass.
  Tensor u = leaf({1});
  Tensor w = leaf({5});
  std::vector<std::string> order;
  Tensor z = u * 4.0;
  z.register_hook([&](const Tensor&) {
    autograd::queue_callback([&] { order.push_back("outer"); });
    EnableGradGuard grad_on;  // hooks run without grad mode
    Tensor inner = w * w;
    inner.register_hook([&](const Tensor&) {
      autograd::queue_callback([&] { order.push_back("inner"); });
      return Tensor();
    });
    sum(inner).backward();
    order.push_back("inner backward returned");
    return Tensor();
  });
  sum(z).backward();
  EXPECT_EQ(order, (std::vector<std::string>{"inner", "inner backward returned", "outer"}));
  EXPECT_EQ(w.grad().item(), 10.0);
  EXPECT_EQ(u.grad().item(), 4.0);
}

TEST(Reaches, FindsTheLeavesAndTensorsAnOutputDependsOn) {
  Tensor a = leaf({1}), b = leaf({2}), unused = leaf({3});
  Tensor frozen = tensor({4.0});
  Tensor mid = a * 2.0;
  Tensor out = mid * b + frozen;
  EXPECT_EQ(autograd::reaches({out}, {a, b, unused, mid, frozen}),
            (std::vector<bool>{true, true, false, true, false}));
  // Several outputs: the union of their graphs; an output that needs no grad reaches nothing.
  Tensor other = unused * 3.0;
  EXPECT_EQ(autograd::reaches({out, other}, {unused}), (std::vector<bool>{true}));
  EXPECT_EQ(autograd::reaches({frozen}, {a}), (std::vector<bool>{false}));
  // A leaf output reaches itself.
  EXPECT_EQ(autograd::reaches({a}, {a, b}), (std::vector<bool>{true, false}));
}

}  // namespace
}  // namespace kiln::testing
