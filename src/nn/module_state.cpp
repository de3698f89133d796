// Module::state_dict and load_state_dict: PyTorch's names, order and error reporting.
#include <sstream>
#include <unordered_set>

#include "kiln/autograd.h"
#include "kiln/nn/module.h"

namespace kiln::nn {

// Own parameters, then own persistent buffers, then each child's entries under "child.": the
// order of PyTorch's _save_to_state_dict recursion. Modules are not deduplicated, so a shared
// submodule or parameter appears under every name it is reachable by, as in PyTorch.
NamedTensors Module::state_entries() const {
  NamedTensors out;
  walk("", false, [&](const std::string& prefix, const Module& m) {
    auto name = [&](const std::string& n) { return prefix.empty() ? n : prefix + "." + n; };
    for (const Entry& e : m.parameters_)
      if (e.tensor.defined()) out.emplace_back(name(e.name), e.tensor);
    for (const Entry& e : m.buffers_)
      if (e.tensor.defined() && e.persistent) out.emplace_back(name(e.name), e.tensor);
  });
  return out;
}

StateDict Module::state_dict() const {
  StateDict sd;
  for (const auto& [name, t] : state_entries()) sd.insert(name, t.detach());
  return sd;
}

namespace {

std::string quoted_list(const std::vector<std::string>& keys) {
  std::string s;
  for (size_t i = 0; i < keys.size(); ++i) s += (i ? ", \"" : "\"") + keys[i] + "\"";
  return s;
}

}  // namespace

LoadStateDictResult Module::load_state_dict(const StateDict& state, bool strict) {
  NamedTensors targets = state_entries();
  LoadStateDictResult result;
  // Shape mismatches and undefined values are errors even when not strict (as in PyTorch).
  std::vector<std::string> problems;
  std::vector<std::pair<Tensor, Tensor>> copies;
  std::unordered_set<std::string> expected;

  for (const auto& [key, target] : targets) {
    expected.insert(key);
    std::optional<Tensor> src = state.find(key);
    if (!src) {
      result.missing_keys.push_back(key);
      continue;
    }
    if (!src->defined()) {
      problems.push_back("undefined tensor for " + key);
      continue;
    }
    if (src->shape() != target.shape()) {
      problems.push_back(
          "size mismatch for " + key + ": copying a param with shape " + shape_str(src->shape()) +
          " from checkpoint, the shape in current model is " + shape_str(target.shape()) + ".");
      continue;
    }
    copies.emplace_back(target, *src);
  }
  for (const auto& [key, t] : state)
    if (!expected.count(key)) result.unexpected_keys.push_back(key);

  const bool key_errors =
      strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty());
  if (key_errors || !problems.empty()) {  // PyTorch's order: missing, unexpected, sizes
    std::ostringstream msg;
    msg << "load_state_dict: Error(s) in loading state_dict for " << name() << ":";
    if (strict && !result.missing_keys.empty())
      msg << "\n\tMissing key(s) in state_dict: " << quoted_list(result.missing_keys) << ".";
    if (strict && !result.unexpected_keys.empty())
      msg << "\n\tUnexpected key(s) in state_dict: " << quoted_list(result.unexpected_keys) << ".";
    for (const std::string& p : problems) msg << "\n\t" << p;
    throw Error(msg.str());
  }

  // Every check passed: now write. Casting first lets a float64 checkpoint load into float32
  // parameters (and an int64 counter into an int32 buffer) as PyTorch's copy_ does.
  NoGradGuard no_grad;
  for (auto& [target, src] : copies) target.copy_(src.to(target.device(), target.dtype()));
  return result;
}

}  // namespace kiln::nn
