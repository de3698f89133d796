// Sequential, ModuleList and ModuleDict.
#include "kiln/nn/container.h"

#include <algorithm>

namespace kiln::nn {

// ---------------- ModuleSequence ----------------

int64_t ModuleSequence::wrap_index(int64_t index) const {
  int64_t n = int64_t(size());
  KILN_CHECK(index >= -n && index < n, name(), ": index ", index, " is out of range for ", n,
             n == 1 ? " module" : " modules");
  return index < 0 ? index + n : index;
}

std::shared_ptr<Module> ModuleSequence::operator[](int64_t index) const {
  return registered_children()[size_t(wrap_index(index))].second;
}

void ModuleSequence::push_back(std::shared_ptr<Module> module) {
  std::string key = std::to_string(size());
  // A Sequential built from named children may already use the name "2", say; appending must
  // not silently replace it.
  KILN_CHECK_VALUE(child(key) == nullptr, name(), ": cannot append under the name '", key,
                   "', which is taken");
  register_module(key, std::move(module));
}

// ---------------- Sequential ----------------

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) : Sequential() {
  for (auto& m : modules) push_back(std::move(m));
}

Sequential::Sequential(NamedModules modules) : Sequential() {
  for (auto& [n, m] : modules) push_back(n, std::move(m));
}

void Sequential::push_back(const std::string& key, std::shared_ptr<Module> module) {
  KILN_CHECK_VALUE(child(key) == nullptr, "Sequential: duplicate name '", key, "'");
  register_module(key, std::move(module));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& m : *this) h = m->forward(h);
  return h;
}

// ---------------- ModuleList ----------------

ModuleList::ModuleList(std::vector<std::shared_ptr<Module>> modules) : ModuleList() {
  for (auto& m : modules) push_back(std::move(m));
}

void ModuleList::extend(const std::vector<std::shared_ptr<Module>>& modules) {
  for (const auto& m : modules) push_back(m);
}

void ModuleList::insert(int64_t index, std::shared_ptr<Module> module) {
  KILN_CHECK_VALUE(module != nullptr, "ModuleList.insert: null module");
  // Python's list.insert clamps the position instead of raising.
  int64_t n = int64_t(size());
  if (index < 0) index += n;
  index = std::clamp<int64_t>(index, 0, n);
  NamedModules renamed;
  for (int64_t i = 0; i <= n; ++i) {
    std::shared_ptr<Module> m;
    if (i < index)
      m = (*this)[i];
    else if (i == index)
      m = module;
    else
      m = (*this)[i - 1];
    renamed.emplace_back(std::to_string(i), std::move(m));
  }
  replace_children(std::move(renamed));
}

std::string ModuleList::repr() const {
  if (empty()) return name() + "()";
  // Group consecutive children that print the same.
  struct Block {
    size_t first, last;
    std::string text;
  };
  std::vector<Block> blocks;
  for (size_t i = 0; i < size(); ++i) {
    std::string r = (*this)[int64_t(i)]->repr();
    if (!blocks.empty() && blocks.back().text == r) {
      blocks.back().last = i;
    } else {
      blocks.push_back({i, i, std::move(r)});
    }
  }
  std::string s = name() + "(";
  for (const Block& b : blocks) {
    // Appends rather than chained `+`: GCC 12 reports a false -Wrestrict on the latter.
    std::string line = "(";
    line += std::to_string(b.first);
    if (b.first != b.last) {
      line += "-";
      line += std::to_string(b.last);
      line += "): ";
      line += std::to_string(b.last - b.first + 1);
      line += " x ";
    } else {
      line += "): ";
    }
    line += b.text;
    s += "\n  ";
    for (char c : line) {
      s += c;
      if (c == '\n') s += "  ";
    }
  }
  return s + "\n)";
}

// ---------------- ModuleDict ----------------

ModuleDict::ModuleDict(NamedModules modules) : ModuleDict() { update(modules); }

void ModuleDict::insert(const std::string& key, std::shared_ptr<Module> module) {
  register_module(key, std::move(module));
}

void ModuleDict::update(const NamedModules& modules) {
  for (const auto& [k, m] : modules) insert(k, m);
}

std::shared_ptr<Module> ModuleDict::pop(const std::string& key) {
  std::shared_ptr<Module> m = (*this)[key];
  unregister_module(key);
  return m;
}

void ModuleDict::clear() { replace_children({}); }

std::shared_ptr<Module> ModuleDict::operator[](const std::string& key) const {
  std::shared_ptr<Module> m = child(key);
  KILN_CHECK_VALUE(m != nullptr, "ModuleDict: no module under the key '", key, "'");
  return m;
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> k;
  for (const auto& [n, m] : registered_children()) k.push_back(n);
  return k;
}

std::vector<std::shared_ptr<Module>> ModuleDict::values() const {
  std::vector<std::shared_ptr<Module>> v;
  for (const auto& [n, m] : registered_children()) v.push_back(m);
  return v;
}

}  // namespace kiln::nn
