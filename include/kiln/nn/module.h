#pragma once
// kiln::nn::Module: the base class of every layer and model, shaped like torch.nn.Module.
//
// A module owns named parameters (leaf tensors that require grad), named buffers (state that is
// saved but not trained, e.g. running statistics) and named submodules, each kept in
// registration order. Names are PyTorch's: a nested entry is "encoder.fc1.weight", a container
// entry "0.weight", so a state_dict written by Kiln loads into PyTorch and back.
//
// Subclasses register their members in the constructor and keep the returned handles:
//
//   struct Net : kiln::nn::Module {
//     std::shared_ptr<kiln::nn::Linear> fc1, fc2;
//     Net() : Module("Net") {
//       fc1 = register_module("fc1", std::make_shared<kiln::nn::Linear>(4, 8));
//       fc2 = register_module("fc2", std::make_shared<kiln::nn::Linear>(8, 2));
//     }
//     kiln::Tensor forward(const kiln::Tensor& x) override { return (*fc2)(kiln::relu((*fc1)(x)));
//     }
//   };
//
// Modules are held by std::shared_ptr (a submodule can be shared between parents, and the
// named_modules/children accessors hand out shared pointers).
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/io/state_dict.h"
#include "kiln/tensor.h"

namespace kiln::nn {

class Module;

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using NamedModules = std::vector<std::pair<std::string, std::shared_ptr<Module>>>;

// What load_state_dict(strict = false) could not match (PyTorch's _IncompatibleKeys).
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;     // expected by the module, absent from the dict
  std::vector<std::string> unexpected_keys;  // present in the dict, unknown to the module
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  // `name` is the type name printed by repr(); when empty, it is taken from the C++ type.
  explicit Module(std::string name = "");
  virtual ~Module() = default;
  // A module's members are registered handles; a copy would alias them silently.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The type name used by repr() ("Linear", "Sequential", ...).
  std::string name() const;

  // ---------------- forward ----------------
  // The computation. The default throws: containers like ModuleList have no forward.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // ---------------- registration ----------------
  // Registers `t` as a parameter (a leaf; requires_grad is set to `requires_grad`) and returns
  // the same handle. An undefined tensor registers an absent parameter (PyTorch's None, e.g. a
  // Linear without bias): it is skipped by parameters() and state_dict(). Registering a name
  // again replaces the entry in place.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  // Registers a buffer; a non-persistent buffer is left out of state_dict().
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true);
  // Registers a submodule and returns it, typed as given.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    register_module_impl(name, module);
    return module;
  }

  // ---------------- access ----------------
  // Parameters (and buffers) of this module and, with `recurse`, of every submodule, each tensor
  // once even when shared (like PyTorch's remove_duplicate=True), in registration order.
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  // Direct submodules.
  std::vector<std::shared_ptr<Module>> children() const;
  NamedModules named_children() const;
  // This module (named "", or `prefix`) and every submodule, depth first, each once.
  // Requires this module to be held by a std::shared_ptr.
  std::vector<std::shared_ptr<Module>> modules();
  NamedModules named_modules(const std::string& prefix = "");

  // By dotted name ("encoder.fc1.weight"); throw kiln::Error naming the missing part.
  Tensor get_parameter(const std::string& target) const;
  Tensor get_buffer(const std::string& target) const;
  std::shared_ptr<Module> get_submodule(const std::string& target) const;

  // ---------------- mode, device, dtype, gradients ----------------
  // Sets training mode on this module and every submodule (Dropout and BatchNorm read it).
  Module& train(bool on = true);
  Module& eval() { return train(false); }
  bool is_training() const { return training_; }

  // Moves / casts parameters, buffers and their gradients in place: the tensors keep their
  // handles (Tensor::set_data), so references held elsewhere (optimizers) stay valid. to(DType)
  // casts floating point tensors only and accepts only floating point dtypes, like PyTorch.
  Module& to(Device device);
  Module& to(DType dtype);
  Module& to(Device device, DType dtype);

  // Resets every parameter's .grad: to zeros (PyTorch 1.13's default) or, with set_to_none,
  // to undefined.
  void zero_grad(bool set_to_none = false);
  // Sets requires_grad on every parameter of the subtree: requires_grad_(false) freezes it.
  Module& requires_grad_(bool requires_grad = true);

  // Calls `fn` on every submodule (children first, recursively) and then on this module, like
  // PyTorch (custom initialisation: dynamic_cast to the layer type inside fn).
  Module& apply(const std::function<void(Module&)>& fn);

  // ---------------- state ----------------
  // Parameters and persistent buffers by dotted name, this module's own first, then each
  // submodule's in registration order; a shared tensor appears under each of its names. The
  // values share storage with the module's tensors (detached): clone() them for a snapshot.
  StateDict state_dict() const;
  // Copies the values of `state` into the parameters and buffers in place (under NoGradGuard,
  // casting to each tensor's dtype). Shape mismatches are always errors; missing and unexpected
  // keys are errors when `strict` and returned otherwise. Everything is checked before anything
  // is copied, so a failed load leaves the module unchanged. The error names every bad key.
  LoadStateDictResult load_state_dict(const StateDict& state, bool strict = true);

  // ---------------- printing ----------------
  // PyTorch's repr: "Linear(in_features=4, out_features=3, bias=True)", containers with one
  // indented "(name): child" line per submodule.
  virtual std::string repr() const;
  // The part between the parentheses for this module's own settings ("" when none).
  virtual std::string extra_repr() const { return ""; }

 protected:
  // For containers that reorder or remove children (ModuleList::insert, ModuleDict::pop).
  void replace_children(NamedModules children);
  void unregister_module(const std::string& name);
  // The shared_ptr a child is held by, or nullptr when `name` is not a child.
  std::shared_ptr<Module> child(const std::string& name) const;
  // Every registered child in order, a module registered twice included (Sequential runs it
  // twice); named_children() lists each module once.
  const NamedModules& registered_children() const { return children_; }

 private:
  struct Entry {
    std::string name;
    Tensor tensor;
    bool persistent = true;  // buffers only
  };

  void register_module_impl(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const char* what, const std::string& name, int kind) const;
  // Depth-first walk over (prefix, module) pairs, each module once when `dedup`.
  void walk(const std::string& prefix, bool dedup,
            const std::function<void(const std::string&, const Module&)>& fn) const;
  NamedTensors collect(bool buffers, bool recurse) const;
  // Every state_dict entry with the module's own handle (not detached).
  NamedTensors state_entries() const;
  void convert(const std::function<Tensor(const Tensor&)>& fn);

  std::string name_;
  bool training_ = true;
  std::vector<Entry> parameters_;
  std::vector<Entry> buffers_;
  NamedModules children_;
};

// Python-style formatting for extra_repr: 1.0, 0.01, 1e-05, True.
std::string repr_double(double v);
inline std::string repr_bool(bool v) { return v ? "True" : "False"; }

}  // namespace kiln::nn
