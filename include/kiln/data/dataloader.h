#pragma once
// DataLoader: batches of a Dataset, optionally shuffled and transformed, prepared one batch ahead
// on a background thread.
//
//   DataLoader loader(dataset, 64, /*shuffle=*/true, /*seed=*/1);
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const Example& batch : loader) train_step(batch.input, batch.target);
//
// Each pass over the loader (each begin()) is one epoch: the shuffle order and the transforms'
// random numbers depend only on (seed, epoch, batch index), so a run is reproducible whatever
// the thread timing, and the global generator (kiln::manual_seed) is never touched. Passes count
// epochs 0, 1, 2, ... on their own; set_epoch(e) chooses the epoch of the next pass (as
// DistributedSampler.set_epoch).
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "kiln/data/dataset.h"
#include "kiln/data/sampler.h"
#include "kiln/data/transforms.h"

namespace kiln::data {

namespace detail {
class Pass;  // one epoch in flight: its order and its prefetch thread
}

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, int64_t batch_size, bool shuffle = false,
             uint64_t seed = 0, bool drop_last = false, bool prefetch = true);

  // Applied to each batch's stacked inputs, with a generator seeded from (seed, epoch, batch).
  DataLoader& set_transform(Transform transform);
  // Visit sampler->indices(epoch) instead of 0..n-1 (e.g. a DistributedSampler's shard); the
  // loader must not shuffle itself (torch: sampler and shuffle are mutually exclusive).
  DataLoader& set_sampler(std::shared_ptr<const Sampler> sampler);
  // The epoch the next pass uses; passes advance it by one.
  void set_epoch(int64_t epoch) { next_epoch_ = epoch; }
  int64_t epoch() const { return next_epoch_; }

  int64_t size() const;  // batches per epoch
  int64_t batch_size() const { return batch_size_; }
  const std::shared_ptr<const Dataset>& dataset() const { return dataset_; }
  // The example order of `epoch` (0..n-1 without shuffle; the sampler's when there is one).
  std::vector<int64_t> indices(int64_t epoch) const;

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Example;
    using difference_type = std::ptrdiff_t;
    using pointer = const Example*;
    using reference = const Example&;

    Iterator() = default;  // the end
    // One consumer per pass: a copy would wait for batches its twin already took.
    Iterator(Iterator&&) = default;
    Iterator& operator=(Iterator&&) = default;
    Iterator(const Iterator&) = delete;
    Iterator& operator=(const Iterator&) = delete;
    const Example& operator*() const { return current_; }
    const Example* operator->() const { return &current_; }
    // Waits for the next batch; rethrows an exception raised while preparing it (the iterator
    // is then at the end).
    Iterator& operator++();
    bool operator==(const Iterator& other) const;
    int64_t batch_index() const { return index_; }
    int64_t epoch() const;

   private:
    friend class DataLoader;
    explicit Iterator(std::shared_ptr<detail::Pass> pass);
    void fetch();
    std::shared_ptr<detail::Pass> pass_;  // null at the end
    Example current_;
    int64_t index_ = 0;
  };

  // Starts a pass over epoch() and advances epoch(). Destroying the iterator
  // stops its prefetch thread, also in the middle of an epoch; the pass keeps the dataset alive,
  // so it may outlive the loader.
  Iterator begin();
  Iterator end() { return Iterator(); }

 private:
  std::shared_ptr<const Dataset> dataset_;
  int64_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  bool prefetch_;
  Transform transform_;
  std::shared_ptr<const Sampler> sampler_;
  int64_t next_epoch_ = 0;
};

}  // namespace kiln::data
