// Module: registration of parameters, buffers and submodules; the accessors built on walking the
// module tree; mode, device/dtype conversion and gradient switches. state_dict and repr live in
// module_state.cpp and module_repr.cpp.
#include "kiln/nn/module.h"

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>
#include <unordered_set>

#include "kiln/autograd.h"
#include "kiln/ops.h"

namespace kiln::nn {

namespace {

enum Kind { kParameter = 0, kBuffer = 1, kSubmodule = 2 };
const char* const kKindNames[] = {"parameter", "buffer", "submodule"};

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// "kiln::nn::Linear" -> "Linear"; "Net" -> "Net". Template arguments are kept as written.
std::string demangled_type_name(const std::type_info& type) {
  int status = 0;
  char* raw = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string full = status == 0 && raw ? raw : type.name();
  std::free(raw);  // allocated by the demangler with malloc
  size_t end = full.find('<');
  size_t colon = full.rfind("::", end == std::string::npos ? std::string::npos : end);
  return colon == std::string::npos ? full : full.substr(colon + 2);
}

}  // namespace

Module::Module(std::string name) : name_(std::move(name)) {}

std::string Module::name() const {
  return name_.empty() ? demangled_type_name(typeid(*this)) : name_;
}

Tensor Module::forward(const Tensor&) {
  throw Error(name() + ": this module has no forward(const Tensor&)");
}

// ---------------- registration ----------------

void Module::check_new_name(const char* what, const std::string& name, int kind) const {
  KILN_CHECK_VALUE(!name.empty(), what, ": the name must not be empty (in ", this->name(), ")");
  KILN_CHECK_VALUE(name.find('.') == std::string::npos, what, ": the name '", name,
                   "' must not contain '.' (in ", this->name(), ")");
  auto taken = [&](int k) {
    if (k == kParameter) {
      for (const Entry& e : parameters_)
        if (e.name == name) return true;
    } else if (k == kBuffer) {
      for (const Entry& e : buffers_)
        if (e.name == name) return true;
    } else {
      for (const auto& [n, m] : children_)
        if (n == name) return true;
    }
    return false;
  };
  for (int k = 0; k < 3; ++k) {
    KILN_CHECK_VALUE(k == kind || !taken(k), what, ": '", name, "' is already a ", kKindNames[k],
                     " of ", this->name());
  }
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_new_name("register_parameter", name, kParameter);
  if (t.defined()) {
    KILN_CHECK(t.is_leaf(), "register_parameter: '", name,
               "' has autograd history; a parameter must be a leaf (register t.detach())");
    KILN_CHECK_TYPE(!requires_grad || t.is_floating_point(), "register_parameter: '", name,
                    "' must be floating point to require grad, got ", dtype_name(t.dtype()));
    t.requires_grad_(requires_grad);
  }
  for (Entry& e : parameters_) {
    if (e.name == name) {
      e.tensor = t;
      return t;
    }
  }
  parameters_.push_back({name, t, true});
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  check_new_name("register_buffer", name, kBuffer);
  for (Entry& e : buffers_) {
    if (e.name == name) {
      e.tensor = t;
      e.persistent = persistent;
      return t;
    }
  }
  buffers_.push_back({name, t, persistent});
  return t;
}

void Module::register_module_impl(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name("register_module", name, kSubmodule);
  KILN_CHECK_VALUE(module != nullptr, "register_module: '", name, "' is a null module (in ",
                   this->name(), ")");
  // A module inside its own subtree would make every walk endless.
  bool cycle = false;
  module->walk("", true, [&](const std::string&, const Module& m) { cycle |= &m == this; });
  KILN_CHECK_VALUE(!cycle, "register_module: '", name, "' (", module->name(), ") contains ",
                   this->name(), " itself; modules must form a tree");
  for (auto& [n, m] : children_) {
    if (n == name) {
      m = std::move(module);
      return;
    }
  }
  children_.emplace_back(name, std::move(module));
}

void Module::replace_children(NamedModules children) {
  std::unordered_set<std::string> names;
  for (const auto& [n, m] : children) {
    KILN_CHECK_VALUE(names.insert(n).second, name(), ": duplicate submodule name '", n, "'");
  }
  children_.clear();
  for (auto& [n, m] : children) register_module_impl(n, std::move(m));
}

void Module::unregister_module(const std::string& name) {
  for (auto it = children_.begin(); it != children_.end(); ++it) {
    if (it->first == name) {
      children_.erase(it);
      return;
    }
  }
  throw ValueError(this->name() + ": no submodule named '" + name + "'");
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (const auto& [n, m] : children_)
    if (n == name) return m;
  return nullptr;
}

// ---------------- access ----------------

void Module::walk(const std::string& prefix, bool dedup,
                  const std::function<void(const std::string&, const Module&)>& fn) const {
  std::unordered_set<const Module*> seen;
  std::function<void(const std::string&, const Module&)> rec = [&](const std::string& p,
                                                                   const Module& m) {
    if (dedup && !seen.insert(&m).second) return;
    fn(p, m);
    for (const auto& [n, c] : m.children_) rec(join_name(p, n), *c);
  };
  rec(prefix, *this);
}

NamedTensors Module::collect(bool buffers, bool recurse) const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  auto add = [&](const std::string& prefix, const Module& m) {
    for (const Entry& e : buffers ? m.buffers_ : m.parameters_) {
      if (e.tensor.defined() && seen.insert(e.tensor.impl()).second)
        out.emplace_back(join_name(prefix, e.name), e.tensor);
    }
  };
  if (recurse) {
    walk("", true, add);
  } else {
    add("", *this);
  }
  return out;
}

NamedTensors Module::named_parameters(bool recurse) const { return collect(false, recurse); }
NamedTensors Module::named_buffers(bool recurse) const { return collect(true, recurse); }

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

NamedModules Module::named_children() const {
  NamedModules out;
  std::unordered_set<const Module*> seen;
  for (const auto& [n, m] : children_)
    if (seen.insert(m.get()).second) out.emplace_back(n, m);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (auto& [n, m] : named_children()) out.push_back(m);
  return out;
}

NamedModules Module::named_modules(const std::string& prefix) {
  std::shared_ptr<Module> self = weak_from_this().lock();
  KILN_CHECK(self != nullptr, "named_modules: ", name(),
             " must be held by a std::shared_ptr (create it with std::make_shared)");
  NamedModules out;
  std::unordered_set<const Module*> seen;
  std::function<void(const std::string&, const std::shared_ptr<Module>&)> rec =
      [&](const std::string& p, const std::shared_ptr<Module>& m) {
        if (!seen.insert(m.get()).second) return;
        out.emplace_back(p, m);
        for (const auto& [n, c] : m->children_) rec(join_name(p, n), c);
      };
  rec(prefix, self);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::modules() {
  std::vector<std::shared_ptr<Module>> out;
  for (auto& [n, m] : named_modules()) out.push_back(m);
  return out;
}

std::shared_ptr<Module> Module::get_submodule(const std::string& target) const {
  if (target.empty()) {
    auto self = std::const_pointer_cast<Module>(weak_from_this().lock());
    KILN_CHECK(self != nullptr, "get_submodule: ", name(), " must be held by a std::shared_ptr");
    return self;
  }
  const Module* m = this;
  std::shared_ptr<Module> found;
  size_t start = 0;
  while (true) {
    size_t dot = target.find('.', start);
    std::string part = target.substr(start, dot == std::string::npos ? dot : dot - start);
    found = m->child(part);
    KILN_CHECK(found != nullptr, "get_submodule: '", target, "': ", m->name(),
               " has no submodule '", part, "'");
    m = found.get();
    if (dot == std::string::npos) return found;
    start = dot + 1;
  }
}

namespace {
// Splits "a.b.weight" into the owning module and the entry name.
std::pair<const Module*, std::string> owner_of(const Module& root, const std::string& target,
                                               std::shared_ptr<Module>& keep) {
  size_t dot = target.rfind('.');
  if (dot == std::string::npos) return {&root, target};
  keep = root.get_submodule(target.substr(0, dot));
  return {keep.get(), target.substr(dot + 1)};
}
}  // namespace

Tensor Module::get_parameter(const std::string& target) const {
  std::shared_ptr<Module> keep;
  auto [owner, leaf] = owner_of(*this, target, keep);
  for (const auto& [n, t] : owner->named_parameters(false))
    if (n == leaf) return t;
  throw Error("get_parameter: '" + target + "': " + owner->name() + " has no parameter '" + leaf +
              "'");
}

Tensor Module::get_buffer(const std::string& target) const {
  std::shared_ptr<Module> keep;
  auto [owner, leaf] = owner_of(*this, target, keep);
  for (const auto& [n, t] : owner->named_buffers(false))
    if (n == leaf) return t;
  throw Error("get_buffer: '" + target + "': " + owner->name() + " has no buffer '" + leaf + "'");
}

// ---------------- mode, device, dtype, gradients ----------------

Module& Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
  return *this;
}

// Two passes: every conversion is computed before any tensor is touched, so a failing
// conversion (e.g. to a device that is not there) leaves the module as it was.
void Module::convert(const std::function<Tensor(const Tensor&)>& fn) {
  NoGradGuard no_grad;
  struct Change {
    Tensor target;
    Tensor data;
    Tensor grad;
    bool new_grad = false;
  };
  std::vector<Change> changes;
  std::unordered_set<const TensorImpl*> seen;
  walk("", true, [&](const std::string&, const Module& m) {
    for (const auto* list : {&m.parameters_, &m.buffers_}) {
      for (const Entry& e : *list) {
        if (!e.tensor.defined() || !seen.insert(e.tensor.impl()).second) continue;
        Change c{e.tensor, fn(e.tensor), Tensor(), false};
        Tensor g = e.tensor.grad();
        if (g.defined()) {
          c.grad = fn(g);
          c.new_grad = !c.grad.is_same(g);
        }
        changes.push_back(std::move(c));
      }
    }
  });
  for (Change& c : changes) {
    if (!c.data.is_same(c.target)) c.target.set_data(c.data);
    if (c.new_grad) c.target.set_grad(c.grad);
  }
}

Module& Module::to(Device device) {
  convert([&](const Tensor& t) { return t.to(device); });
  return *this;
}

Module& Module::to(DType dtype) {
  KILN_CHECK_TYPE(is_floating(dtype), "Module.to: only floating point dtypes are accepted, got ",
                  dtype_name(dtype));
  convert([&](const Tensor& t) { return t.is_floating_point() ? t.to(dtype) : t; });
  return *this;
}

Module& Module::to(Device device, DType dtype) {
  KILN_CHECK_TYPE(is_floating(dtype), "Module.to: only floating point dtypes are accepted, got ",
                  dtype_name(dtype));
  convert([&](const Tensor& t) {
    Tensor moved = t.to(device);
    return moved.is_floating_point() ? moved.to(dtype) : moved;
  });
  return *this;
}

void Module::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (Tensor& p : parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none)
      p.set_grad(Tensor());
    else if (g.requires_grad())
      p.set_grad(kiln::zeros_like(g.detach()));  // cut its history
    else
      g.zero_();
  }
}

Module& Module::requires_grad_(bool requires_grad) {
  for (Tensor& p : parameters()) p.requires_grad_(requires_grad);
  return *this;
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& c : children()) c->apply(fn);
  fn(*this);
  return *this;
}

}  // namespace kiln::nn
