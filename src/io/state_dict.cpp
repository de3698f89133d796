#include "kiln/io/state_dict.h"

#include "kiln/error.h"

namespace kiln {

void StateDict::insert(const std::string& name, const Tensor& t) {
  auto it = index_.find(name);
  if (it != index_.end()) {
    items_[it->second].second = t;
    return;
  }
  index_[name] = items_.size();
  items_.emplace_back(name, t);
}

const Tensor& StateDict::at(const std::string& name) const {
  auto it = index_.find(name);
  KILN_CHECK_VALUE(it != index_.end(), "state_dict: no entry named '", name, "'");
  return items_[it->second].second;
}

std::optional<Tensor> StateDict::find(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return items_[it->second].second;
}

bool StateDict::erase(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) return false;
  items_.erase(items_.begin() + int64_t(it->second));
  index_.clear();
  for (size_t i = 0; i < items_.size(); ++i) index_[items_[i].first] = i;
  return true;
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> k;
  for (const auto& [name, t] : items_) k.push_back(name);
  return k;
}

}  // namespace kiln
