#include "kiln/data/dataset.h"

#include "data/rng.h"
#include "kiln/ops.h"

namespace kiln::data {

namespace {
void check_index(const char* what, int64_t i, int64_t n) {
  KILN_CHECK_VALUE(i >= 0 && i < n, what, ": index ", i, " is out of range for a dataset of ", n,
                   " examples");
}
Tensor index_tensor(const std::vector<int64_t>& indices) {
  return tensor(indices, {int64_t(indices.size())});
}
}  // namespace

Example Dataset::get_batch(const std::vector<int64_t>& indices) const {
  KILN_CHECK_VALUE(!indices.empty(), "Dataset::get_batch: no indices");
  std::vector<Tensor> inputs, targets;
  inputs.reserve(indices.size());
  targets.reserve(indices.size());
  for (int64_t i : indices) {
    check_index("Dataset::get_batch", i, size());
    Example e = get(i);
    inputs.push_back(std::move(e.input));
    targets.push_back(std::move(e.target));
  }
  return {stack(inputs), stack(targets)};
}

TensorDataset::TensorDataset(Tensor inputs, Tensor targets)
    : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  KILN_CHECK_VALUE(inputs_.defined() && targets_.defined(),
                   "TensorDataset: inputs and targets must be defined tensors");
  KILN_CHECK_VALUE(inputs_.dim() >= 1 && targets_.dim() >= 1,
                   "TensorDataset: inputs and targets need a first (example) dimension, got "
                   "shapes ",
                   shape_str(inputs_.shape()), " and ", shape_str(targets_.shape()));
  KILN_CHECK_VALUE(inputs_.size(0) == targets_.size(0), "TensorDataset: inputs have ",
                   inputs_.size(0), " examples (shape ", shape_str(inputs_.shape()),
                   ") but targets have ", targets_.size(0), " (shape ", shape_str(targets_.shape()),
                   ")");
}

Example TensorDataset::get(int64_t i) const {
  check_index("TensorDataset::get", i, size());
  return {inputs_.select(0, i), targets_.select(0, i)};
}

Example TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  KILN_CHECK_VALUE(!indices.empty(), "TensorDataset::get_batch: no indices");
  for (int64_t i : indices) check_index("TensorDataset::get_batch", i, size());
  Tensor idx = index_tensor(indices);
  return {index_select(inputs_, 0, idx), index_select(targets_, 0, idx)};
}

Subset::Subset(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> indices)
    : dataset_(std::move(dataset)), indices_(std::move(indices)) {
  KILN_CHECK_VALUE(dataset_ != nullptr, "Subset: null dataset");
  const int64_t n = dataset_->size();
  for (int64_t i : indices_) check_index("Subset", i, n);
}

Example Subset::get(int64_t i) const {
  check_index("Subset::get", i, size());
  return dataset_->get(indices_[size_t(i)]);
}

Example Subset::get_batch(const std::vector<int64_t>& indices) const {
  std::vector<int64_t> mapped;
  mapped.reserve(indices.size());
  for (int64_t i : indices) {
    check_index("Subset::get_batch", i, size());
    mapped.push_back(indices_[size_t(i)]);
  }
  return dataset_->get_batch(mapped);
}

std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> dataset,
                                                  const std::vector<int64_t>& lengths,
                                                  uint64_t seed) {
  KILN_CHECK_VALUE(dataset != nullptr, "random_split: null dataset");
  int64_t total = 0;
  for (int64_t l : lengths) {
    KILN_CHECK_VALUE(l >= 0, "random_split: negative length ", l);
    total += l;
  }
  KILN_CHECK_VALUE(total == dataset->size(), "random_split: lengths sum to ", total,
                   " but the dataset has ", dataset->size(), " examples");
  std::mt19937_64 gen(detail::derive_seed(seed, 0x5b117ull));
  std::vector<int64_t> perm = detail::permutation(total, gen);
  std::vector<std::shared_ptr<Subset>> out;
  auto it = perm.begin();
  for (int64_t l : lengths) {
    out.push_back(std::make_shared<Subset>(dataset, std::vector<int64_t>(it, it + l)));
    it += l;
  }
  return out;
}

}  // namespace kiln::data
