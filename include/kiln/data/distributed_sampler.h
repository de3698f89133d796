#pragma once
// DistributedSampler: the shard of a dataset one rank of a data-parallel job visits
// (torch.utils.data.distributed.DistributedSampler).
//
//   auto sampler = std::make_shared<data::DistributedSampler>(dataset->size());  // default group
//   data::DataLoader loader(dataset, 32);
//   loader.set_sampler(sampler);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.set_epoch(epoch);  // the loader hands its epoch to the sampler: a new shuffle
//     for (const auto& batch : loader) ...
//   }
//
// Every epoch, all ranks compute the same order of 0..n-1 (shuffled from seed + epoch, or in
// order), pad it by wrapping around to a multiple of num_replicas (or, with drop_last, cut the
// tail), and rank r takes positions r, r + num_replicas, r + 2 num_replicas, ...: the shards are
// disjoint (before padding), cover the dataset, and have equal lengths, so every rank runs the
// same number of steps (a rank with fewer batches would leave the others waiting in an
// all-reduce). The shuffle uses Kiln's portable generator (src/data/rng.h), not torch's
// randperm: for the same seed the order differs from torch's; without shuffle it is torch's.
#include <cstdint>
#include <optional>
#include <vector>

#include "kiln/data/sampler.h"

namespace kiln::data {

class DistributedSampler : public Sampler {
 public:
  // num_replicas / rank default to the default process group's world size and rank
  // (kiln::distributed::get_world_size() / get_rank(): 1 and 0 without a group).
  explicit DistributedSampler(int64_t dataset_size, std::optional<int> num_replicas = std::nullopt,
                              std::optional<int> rank = std::nullopt, bool shuffle = true,
                              uint64_t seed = 0, bool drop_last = false);

  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t size() const override { return num_samples_; }  // per rank, every epoch

  // For use without a DataLoader (torch's set_epoch + iter(sampler)): indices() is
  // indices(epoch()). A DataLoader passes its own epoch (DataLoader::set_epoch) instead.
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }
  std::vector<int64_t> indices() const { return indices(epoch_); }

  int num_replicas() const { return num_replicas_; }
  int rank() const { return rank_; }
  int64_t total_size() const { return num_samples_ * num_replicas_; }

 private:
  int64_t dataset_size_;
  int num_replicas_;
  int rank_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  int64_t num_samples_;
  int64_t epoch_ = 0;
};

}  // namespace kiln::data
