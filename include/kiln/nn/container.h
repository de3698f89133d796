#pragma once
// Containers (torch.nn.modules.container): Sequential, ModuleList, ModuleDict. Their children
// are named "0", "1", ... (or by key), which is where state_dict names like "0.weight" come from.
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "kiln/nn/module.h"

namespace kiln::nn {

// The indexed part shared by Sequential and ModuleList: children in order, by position.
class ModuleSequence : public Module {
 public:
  // Iterates the children as std::shared_ptr<Module>, in order.
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::shared_ptr<Module>;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::shared_ptr<Module>*;
    using reference = const std::shared_ptr<Module>&;
    const_iterator() = default;
    explicit const_iterator(NamedModules::const_iterator it) : it_(it) {}
    reference operator*() const { return it_->second; }
    pointer operator->() const { return &it_->second; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) { return const_iterator(it_++); }
    bool operator==(const const_iterator& o) const { return it_ == o.it_; }
    bool operator!=(const const_iterator& o) const { return it_ != o.it_; }

   private:
    NamedModules::const_iterator it_;
  };

  size_t size() const { return registered_children().size(); }
  bool empty() const { return registered_children().empty(); }
  const_iterator begin() const { return const_iterator(registered_children().begin()); }
  const_iterator end() const { return const_iterator(registered_children().end()); }

  // By position; negative indices count from the end. Throws kiln::Error when out of range.
  std::shared_ptr<Module> operator[](int64_t index) const;
  // The same, cast to the layer type; throws kiln::TypeError when it is another type.
  template <class M>
  std::shared_ptr<M> at(int64_t index) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[index]);
    KILN_CHECK_TYPE(m != nullptr, name(), "[", index, "] is a ", (*this)[index]->name(),
                    ", not the requested type");
    return m;
  }

  // Appends under the name str(size()), like PyTorch's append.
  void push_back(std::shared_ptr<Module> module);

 protected:
  explicit ModuleSequence(std::string name) : Module(std::move(name)) {}
  int64_t wrap_index(int64_t index) const;
};

// Runs its children in order, each on the previous one's output.
//   auto net = std::make_shared<Sequential>(std::make_shared<Linear>(4, 3),
//                                           std::make_shared<ReLU>());
class Sequential : public ModuleSequence {
 public:
  Sequential() : ModuleSequence("Sequential") {}
  template <class... Ms>
  requires(sizeof...(Ms) > 0 && (std::is_base_of_v<Module, Ms> &&
                                 ...)) explicit Sequential(std::shared_ptr<Ms>... modules)
      : Sequential() {
    (push_back(std::move(modules)), ...);
  }
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  // Named children, in order (PyTorch's Sequential(OrderedDict(...))).
  explicit Sequential(NamedModules modules);

  using ModuleSequence::push_back;
  void push_back(const std::string& name, std::shared_ptr<Module> module);

  Tensor forward(const Tensor& x) override;
};

// Holds submodules in a list so that they are registered (parameters, state_dict, to(), ...);
// it has no forward of its own.
class ModuleList : public ModuleSequence {
 public:
  ModuleList() : ModuleSequence("ModuleList") {}
  explicit ModuleList(std::vector<std::shared_ptr<Module>> modules);

  void append(std::shared_ptr<Module> module) { push_back(std::move(module)); }
  void extend(const std::vector<std::shared_ptr<Module>>& modules);
  // Inserts before position `index` (negative counts from the end); later children are renamed.
  void insert(int64_t index, std::shared_ptr<Module> module);

  // Like PyTorch, runs of identical children print once: "(0-2): 3 x Linear(...)".
  std::string repr() const override;
};

// Holds submodules by name, in insertion order; it has no forward of its own.
class ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  explicit ModuleDict(NamedModules modules);

  // Adds or replaces (a replaced entry keeps its position).
  void insert(const std::string& key, std::shared_ptr<Module> module);
  void update(const NamedModules& modules);
  // Removes `key` and returns its module; throws kiln::ValueError when absent.
  std::shared_ptr<Module> pop(const std::string& key);
  void clear();

  bool contains(const std::string& key) const { return child(key) != nullptr; }
  // Throws kiln::ValueError naming the key when absent.
  std::shared_ptr<Module> operator[](const std::string& key) const;
  template <class M>
  std::shared_ptr<M> at(const std::string& key) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[key]);
    KILN_CHECK_TYPE(m != nullptr, "ModuleDict['", key, "'] is a ", (*this)[key]->name(),
                    ", not the requested type");
    return m;
  }
  size_t size() const { return registered_children().size(); }
  bool empty() const { return registered_children().empty(); }
  std::vector<std::string> keys() const;
  std::vector<std::shared_ptr<Module>> values() const;
  const NamedModules& items() const { return registered_children(); }
};

}  // namespace kiln::nn
