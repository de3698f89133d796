#pragma once
// StateDict: named tensors in insertion order (module parameters and buffers, optimizer state),
// the unit that checkpoints save and load. Names follow PyTorch ("0.weight", "fc1.bias").
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

class StateDict {
 public:
  using Item = std::pair<std::string, Tensor>;

  // Adds or replaces `name` (a replaced entry keeps its position).
  void insert(const std::string& name, const Tensor& t);
  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  // Throws kiln::ValueError naming the missing key.
  const Tensor& at(const std::string& name) const;
  std::optional<Tensor> find(const std::string& name) const;
  bool erase(const std::string& name);

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> keys() const;
  const std::vector<Item>& items() const { return items_; }
  std::vector<Item>::const_iterator begin() const { return items_.begin(); }
  std::vector<Item>::const_iterator end() const { return items_.end(); }

  // Free-form string metadata carried alongside (safetensors "__metadata__").
  std::map<std::string, std::string>& metadata() { return metadata_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::vector<Item> items_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace kiln
