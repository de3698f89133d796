#include "kiln/data/distributed_sampler.h"

#include "data/rng.h"
#include "kiln/distributed/process_group.h"
#include "kiln/error.h"

namespace kiln::data {

namespace {
constexpr uint64_t kDistributedShuffleStream = 0x4453414d50ull;  // "DSAMP"
}

DistributedSampler::DistributedSampler(int64_t dataset_size, std::optional<int> num_replicas,
                                       std::optional<int> rank, bool shuffle, uint64_t seed,
                                       bool drop_last)
    : dataset_size_(dataset_size),
      num_replicas_(num_replicas.value_or(distributed::get_world_size())),
      rank_(rank.value_or(distributed::get_rank())),
      shuffle_(shuffle),
      seed_(seed),
      drop_last_(drop_last) {
  KILN_CHECK_VALUE(dataset_size_ >= 0,
                   "DistributedSampler: dataset_size must be non-negative, got ", dataset_size_);
  KILN_CHECK_VALUE(num_replicas_ > 0, "DistributedSampler: num_replicas must be positive, got ",
                   num_replicas_);
  KILN_CHECK_VALUE(rank_ >= 0 && rank_ < num_replicas_, "DistributedSampler: invalid rank ", rank_,
                   ", rank should be in the interval [0, ", num_replicas_ - 1, "]");
  const int64_t r = num_replicas_;
  // torch: with drop_last and a remainder, the tail is cut so every rank gets floor(n / r);
  // otherwise the order is padded up to ceil(n / r) per rank.
  num_samples_ =
      drop_last_ && dataset_size_ % r != 0 ? dataset_size_ / r : (dataset_size_ + r - 1) / r;
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
  std::vector<int64_t> order;
  if (shuffle_) {
    // seed + epoch as torch, through SplitMix64 so nearby seeds give unrelated orders; the
    // same on every rank, so the shards partition one permutation.
    std::mt19937_64 gen(detail::derive_seed(seed_ + uint64_t(epoch), kDistributedShuffleStream));
    order = detail::permutation(dataset_size_, gen);
  } else {
    order.resize(size_t(dataset_size_));
    for (int64_t i = 0; i < dataset_size_; ++i) order[size_t(i)] = i;
  }
  const int64_t total = total_size();
  if (int64_t(order.size()) < total) {
    // Pad by wrapping around (repeatedly when the dataset is smaller than the padding).
    KILN_CHECK_VALUE(dataset_size_ > 0, "DistributedSampler: cannot pad an empty dataset to ",
                     num_replicas_, " replicas");
    order.reserve(size_t(total));
    for (size_t i = 0; int64_t(order.size()) < total; ++i) {
      const int64_t wrapped = order[i];
      order.push_back(wrapped);
    }
  } else {
    order.resize(size_t(total));
  }
  std::vector<int64_t> shard;
  shard.reserve(size_t(num_samples_));
  for (int64_t i = rank_; i < total; i += num_replicas_) shard.push_back(order[size_t(i)]);
  return shard;
}

}  // namespace kiln::data
