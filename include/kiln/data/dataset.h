#pragma once
// Datasets: indexable collections of (input, target) examples, as torch.utils.data.
#include <cstdint>
#include <memory>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::data {

struct Example {
  Tensor input;
  Tensor target;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Example i, 0 <= i < size(). Must be safe to call from the loader's prefetch thread.
  virtual Example get(int64_t i) const = 0;
  // The examples at `indices`, stacked along a new first dimension. The default stacks get(i);
  // datasets backed by tensors override it with one gather.
  virtual Example get_batch(const std::vector<int64_t>& indices) const;
};

// Examples are the slices of `inputs` and `targets` along their first dimension (as views).
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor inputs, Tensor targets);
  int64_t size() const override { return inputs_.size(0); }
  Example get(int64_t i) const override;
  Example get_batch(const std::vector<int64_t>& indices) const override;
  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor inputs_;
  Tensor targets_;
};

// The examples of `dataset` at `indices`, in that order.
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> indices);
  int64_t size() const override { return int64_t(indices_.size()); }
  Example get(int64_t i) const override;
  Example get_batch(const std::vector<int64_t>& indices) const override;
  const std::vector<int64_t>& indices() const { return indices_; }
  const std::shared_ptr<const Dataset>& dataset() const { return dataset_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  std::vector<int64_t> indices_;
};

// Splits `dataset` into disjoint random subsets of the given lengths (which must sum to its
// size). The same seed gives the same split on every platform; the global generator is untouched.
std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> dataset,
                                                  const std::vector<int64_t>& lengths,
                                                  uint64_t seed);

}  // namespace kiln::data
