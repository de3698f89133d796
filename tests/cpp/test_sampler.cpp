// DistributedSampler (explicit num_replicas and rank, so no process group is needed): disjoint
// shards covering the dataset, padding by wrapping around, equal lengths, drop_last, the
// per-epoch reshuffle from seed + epoch, torch's order without shuffle, and the DataLoader
// visiting a sampler's shard.
#include <algorithm>
#include <set>

#include "kiln/data/distributed_sampler.h"
#include "test_util.h"

namespace kiln::testing {
namespace {

using data::DistributedSampler;

std::vector<std::vector<int64_t>> shards(int64_t n, int replicas, bool shuffle, uint64_t seed,
                                         bool drop_last, int64_t epoch) {
  std::vector<std::vector<int64_t>> out;
  for (int r = 0; r < replicas; ++r)
    out.push_back(DistributedSampler(n, replicas, r, shuffle, seed, drop_last).indices(epoch));
  return out;
}

TEST(DistributedSampler, WithoutShuffleMatchesTorch) {
  // torch: list(DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=False))
  auto s = shards(10, 3, false, 0, false, 0);
  EXPECT_EQ(s[0], (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(s[1], (std::vector<int64_t>{1, 4, 7, 0}));  // padded with the first index
  EXPECT_EQ(s[2], (std::vector<int64_t>{2, 5, 8, 1}));
  // drop_last: the tail is cut, floor(10 / 3) = 3 each.
  auto d = shards(10, 3, false, 0, true, 0);
  EXPECT_EQ(d[0], (std::vector<int64_t>{0, 3, 6}));
  EXPECT_EQ(d[1], (std::vector<int64_t>{1, 4, 7}));
  EXPECT_EQ(d[2], (std::vector<int64_t>{2, 5, 8}));
  // More padding than data wraps around repeatedly: range(2) over 5 replicas.
  auto w = shards(2, 5, false, 0, false, 0);
  EXPECT_EQ(w, (std::vector<std::vector<int64_t>>{{0}, {1}, {0}, {1}, {0}}));
}

TEST(DistributedSampler, ShuffledShardsAreDisjointEqualAndCoverTheDataset) {
  for (int64_t n : {12, 13, 17}) {
    for (int replicas : {2, 3, 4}) {
      SCOPED_TRACE("n " + std::to_string(n) + ", replicas " + std::to_string(replicas));
      auto s = shards(n, replicas, true, 5, false, 0);
      const int64_t per = (n + replicas - 1) / replicas;
      std::vector<int64_t> all;
      for (const auto& shard : s) {
        EXPECT_EQ(int64_t(shard.size()), per);
        all.insert(all.end(), shard.begin(), shard.end());
      }
      std::set<int64_t> distinct(all.begin(), all.end());
      EXPECT_EQ(int64_t(distinct.size()), n);  // covers everything
      EXPECT_EQ(*distinct.begin(), 0);
      EXPECT_EQ(*distinct.rbegin(), n - 1);
      // Only the padding repeats: total - n duplicates.
      EXPECT_EQ(int64_t(all.size()) - n, per * replicas - n);
    }
  }
}

TEST(DistributedSampler, ReshufflesPerEpochFromTheSeed) {
  DistributedSampler a(50, 2, 0, true, 11), b(50, 2, 0, true, 11), c(50, 2, 0, true, 12);
  EXPECT_EQ(a.indices(0), b.indices(0));  // the same seed and epoch: the same shard
  EXPECT_NE(a.indices(0), a.indices(1));  // a new epoch: a new order
  EXPECT_NE(a.indices(0), c.indices(0));  // another seed: another order
  EXPECT_EQ(a.indices(3), a.indices(3));
  // set_epoch + indices() is indices(epoch) (torch's usage without a loader).
  a.set_epoch(4);
  EXPECT_EQ(a.indices(), b.indices(4));
  // Shuffled, not the identity.
  std::vector<int64_t> sorted = a.indices(0);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(sorted, a.indices(0));
}

TEST(DistributedSampler, ArgumentsAreChecked) {
  EXPECT_THROW_MSG(DistributedSampler(10, 2, 2), ValueError, "invalid rank 2", "[0, 1]");
  EXPECT_THROW_MSG(DistributedSampler(10, 0, 0), ValueError, "num_replicas");
  // Without a process group: one replica, rank 0.
  DistributedSampler alone(4, std::nullopt, std::nullopt, false);
  EXPECT_EQ(alone.num_replicas(), 1);
  EXPECT_EQ(alone.indices(0), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(DistributedSampler, DataLoaderVisitsTheShard) {
  Tensor x = arange(10.0, TensorOptions(DType::Float32)).reshape({10, 1});
  auto ds = std::make_shared<data::TensorDataset>(x, arange(10.0));
  auto sampler = std::make_shared<DistributedSampler>(10, 3, 1, true, 3);
  data::DataLoader loader(ds, 2, /*shuffle=*/false, 0, false, /*prefetch=*/false);
  loader.set_sampler(sampler);
  EXPECT_EQ(loader.size(), 2);  // 4 examples per rank, batches of 2
  loader.set_epoch(2);
  std::vector<double> seen;
  for (const auto& batch : loader)
    for (double v : batch.input.to_vector()) seen.push_back(v);
  std::vector<double> expected;
  for (int64_t i : sampler->indices(2)) expected.push_back(double(i));
  EXPECT_EQ(seen, expected);
  data::DataLoader shuffling(ds, 2, /*shuffle=*/true);
  EXPECT_THROW_MSG(shuffling.set_sampler(sampler), ValueError, "mutually exclusive");
}

}  // namespace
}  // namespace kiln::testing
