#pragma once
// Helpers of the DDP and SyncBatchNorm equivalence tests: per-rank batch splits and parameter
// comparisons. Every rank draws the same global batch (same seed) and takes its own rows; the
// reference is a single-process computation on the whole batch, done locally on every rank.
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "kiln/distributed/distributed.h"
#include "test_process_group_util.h"

namespace kiln::testing::ddp {

using dist::dev;  // this rank's GPU under the nccl group, else the CPU
using dist::group;
using dist::rank;
using dist::world;

inline TensorOptions f64() { return TensorOptions(DType::Float64, dev()); }

// Rows per rank. Uneven: 5, 2, 3, 1, ... ; with_empty: rank 1 gets none (needs world >= 2).
inline std::vector<int64_t> batch_sizes(bool uneven, bool with_empty = false) {
  const std::vector<int64_t> pattern{5, 2, 3, 1, 4};
  std::vector<int64_t> sizes;
  for (int r = 0; r < world(); ++r) sizes.push_back(uneven ? pattern[size_t(r) % 5] : 4);
  if (with_empty && world() > 1) sizes[1] = 0;
  return sizes;
}

inline int64_t total(const std::vector<int64_t>& sizes) {
  return std::accumulate(sizes.begin(), sizes.end(), int64_t(0));
}

// This rank's rows of a global batch split by `sizes`.
inline Tensor my_rows(const Tensor& global, const std::vector<int64_t>& sizes, int r = -1) {
  if (r < 0) r = rank();
  int64_t offset = 0;
  for (int k = 0; k < r; ++k) offset += sizes[size_t(k)];
  return global.narrow(0, offset, sizes[size_t(r)]);
}

// Every rank's copy of `t`, through a plain (non-differentiable) all_gather.
inline std::vector<Tensor> gather_all(const Tensor& t) {
  std::vector<Tensor> out;
  for (int r = 0; r < world(); ++r)
    out.push_back(zeros(t.shape(), TensorOptions(t.dtype(), t.device())));
  group().all_gather(out, t.contiguous())->wait();
  return out;
}

// Parameters (and with `buffers`, floating buffers) of `a` and `b` match by name.
inline void expect_same_state(const nn::Module& a, const nn::Module& b, double tol,
                              bool buffers = false) {
  const nn::NamedTensors pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_EQ(pa[i].first, pb[i].first);
    expect_close(pa[i].second, pb[i].second, tol, tol,
                 "rank " + std::to_string(rank()) + " parameter " + pa[i].first);
  }
  if (!buffers) return;
  const nn::NamedTensors ba = a.named_buffers(), bb = b.named_buffers();
  ASSERT_EQ(ba.size(), bb.size());
  for (size_t i = 0; i < ba.size(); ++i) {
    if (!ba[i].second.is_floating_point()) {
      EXPECT_EQ(ba[i].second.to_vector(), bb[i].second.to_vector()) << ba[i].first;
      continue;
    }
    expect_close(ba[i].second, bb[i].second, tol, tol,
                 "rank " + std::to_string(rank()) + " buffer " + ba[i].first);
  }
}

// The gradients of `a`'s parameters equal `b`'s.
inline void expect_same_grads(const nn::Module& a, const nn::Module& b, double tol) {
  const nn::NamedTensors pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_TRUE(pa[i].second.grad().defined()) << pa[i].first;
    ASSERT_TRUE(pb[i].second.grad().defined()) << pb[i].first;
    expect_close(pa[i].second.grad(), pb[i].second.grad(), tol, tol,
                 "rank " + std::to_string(rank()) + " gradient of " + pa[i].first);
  }
}

// The parameters of `m` are bit-identical on every rank.
inline void expect_identical_across_ranks(const nn::Module& m) {
  for (const auto& [name, p] : m.named_parameters()) {
    std::vector<Tensor> all = gather_all(p.detach());
    for (int r = 1; r < world(); ++r)
      EXPECT_EQ(all[size_t(r)].to_vector(), all[0].to_vector())
          << name << " differs between rank 0 and rank " << r;
  }
}

}  // namespace kiln::testing::ddp
