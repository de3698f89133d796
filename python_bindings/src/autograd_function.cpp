// The C++ half of kiln.autograd.Function: after the Python forward has run (under no_grad, in
// kiln/autograd/function.py), _record_function attaches its outputs to one graph node whose
// backward calls back into Python.
//
// Ownership, chosen so that nothing leaks through a cycle the garbage collector cannot see:
//   outputs -> node -> run_backward (a Python callable holding ctx) -> ctx -> _SavedTensors
// and _SavedTensors refers back to the node only weakly. Saved forward outputs are kept by
// FunctionNode::save_output, without their grad_fn, and rewired to the node when unpacked.
// The node drops its Python references as soon as backward has used them (unless
// retain_graph), like the saved tensors of every other node.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>

#include "autograd/function_node.h"
#include "bindings.h"

namespace kiln::python {

namespace {

// One entry of ctx.save_for_backward: a forward input or intermediate (version-checked when
// unpacked), a forward output (kept by the node itself), or None.
struct SavedSlot {
  SavedTensor tensor;
  int output_nr = -1;
};

class PyFunctionNode : public FunctionNode {
 public:
  PyFunctionNode(std::string name, nb::object run_backward)
      : FunctionNode(std::move(name), &PyFunctionNode::dispatch),
        run_backward_(std::move(run_backward)) {}

  ~PyFunctionNode() override { drop_python_callable(); }

  void add_saved(SavedSlot slot) { saved_.push_back(std::move(slot)); }

  // ctx.saved_tensors: each saved tensor, checked against in-place modification since forward.
  std::vector<Tensor> unpack_saved() const {
    KILN_CHECK(!freed_, name(),
               ": trying to backward through the graph a second time (or to access saved tensors "
               "after they were freed). Saved tensors are freed by backward() and "
               "autograd.grad(); pass retain_graph=True to the first call if you need them again.");
    std::vector<Tensor> out;
    out.reserve(saved_.size());
    for (const SavedSlot& s : saved_)
      out.push_back(s.output_nr >= 0 ? saved_output(s.output_nr) : s.tensor.get(*this));
    return out;
  }

  void release_variables() override {
    saved_.clear();
    freed_ = true;
    drop_python_callable();
    FunctionNode::release_variables();
  }

 private:
  static std::vector<Tensor> dispatch(FunctionNode& self, const std::vector<Tensor>& grads) {
    return static_cast<PyFunctionNode&>(self).call_python(grads);
  }

  std::vector<Tensor> call_python(const std::vector<Tensor>& grads) {
    // The engine runs every node on the thread that called backward, which holds the GIL; taking
    // it again is cheap and keeps this correct should a node ever run elsewhere.
    nb::gil_scoped_acquire gil;
    nb::list py_grads;
    for (const Tensor& g : grads) py_grads.append(tensor_or_none(g));
    // run_backward checks the count and the types and returns one entry per forward argument.
    nb::object result = run_backward_(nb::tuple(py_grads));
    std::vector<Tensor> out;
    for (nb::handle g : result) out.push_back(g.is_none() ? Tensor() : nb::cast<Tensor>(g));
    return out;
  }

  // Python references may be dropped on any thread, or while the interpreter shuts down.
  void drop_python_callable() {
    if (!run_backward_.is_valid()) return;
    if (nb::detail::cleanup_guard guard{}) {
      run_backward_.reset();
    } else {
      run_backward_.release();  // the interpreter is gone: leak rather than crash
    }
  }

  nb::object run_backward_;
  std::vector<SavedSlot> saved_;
  bool freed_ = false;
};

// ctx's view of its saved tensors; weak, so that ctx (owned by the node) does not own the node.
struct SavedTensors {
  std::weak_ptr<PyFunctionNode> node;

  // A tuple with None where None was saved.
  nb::tuple unpack() const {
    std::shared_ptr<PyFunctionNode> n = node.lock();
    KILN_CHECK(n != nullptr,
               "saved_tensors: the graph that held these tensors has been freed (its outputs no "
               "longer exist)");
    nb::list out;
    for (const Tensor& t : n->unpack_saved()) out.append(tensor_or_none(t));
    return nb::tuple(out);
  }
};

int index_of(const std::vector<Tensor>& ts, const Tensor& t) {
  for (size_t i = 0; i < ts.size(); ++i)
    if (ts[i].defined() && ts[i].is_same(t)) return int(i);
  return -1;
}

// An output that is an input, already has autograd history, or repeats an earlier output gets a
// fresh handle on the same storage: giving it this node's grad_fn must not rewrite the history
// of a tensor the caller still holds.
bool needs_fresh_handle(const std::vector<Tensor>& outputs, size_t i,
                        const std::vector<Tensor>& inputs) {
  const Tensor& out = outputs[i];
  if (out.requires_grad() || index_of(inputs, out) >= 0) return true;
  for (size_t j = 0; j < i; ++j)
    if (outputs[j].is_same(out)) return true;
  return false;
}

struct Recorded {
  std::vector<Tensor> outputs;
  std::optional<SavedTensors> saved;
};

Recorded record_function(const std::string& name, nb::object run_backward,
                         const std::vector<std::optional<Tensor>>& input_args,
                         const std::vector<Tensor>& outputs,
                         const std::vector<std::optional<Tensor>>& to_save,
                         const std::vector<bool>& non_differentiable) {
  KILN_CHECK_VALUE(non_differentiable.size() == outputs.size(),
                   "_record_function: one non_differentiable flag per output");
  std::vector<Tensor> inputs;
  for (const auto& a : input_args) inputs.push_back(a.value_or(Tensor()));
  if (!should_record(inputs)) return {outputs, std::nullopt};

  auto node = std::make_shared<PyFunctionNode>(name, std::move(run_backward));
  std::vector<Edge> edges;
  for (const Tensor& in : inputs) edges.push_back(gradient_edge(in));
  node->set_next_edges(std::move(edges));

  std::vector<Tensor> result;
  std::vector<bool> attached(outputs.size(), false);
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor out = needs_fresh_handle(outputs, i, inputs) ? outputs[i].detach() : outputs[i];
    node->add_grad_meta({out.shape(), out.dtype(), out.device()});
    // Integer outputs carry no gradient, as in PyTorch; their gradient slot still exists.
    attached[i] = !non_differentiable[i] && is_floating(out.dtype());
    if (attached[i]) {
      auto& meta = out.impl()->autograd_mut();
      meta.grad_fn = node;
      meta.output_nr = int(i);
    }
    result.push_back(out);
  }

  for (const auto& t : to_save) {
    SavedSlot slot;
    if (t) {
      int j = index_of(outputs, *t);
      if (j >= 0 && attached[size_t(j)] && result[size_t(j)].is_same(*t)) {
        node->save_output(j, result[size_t(j)]);
        slot.output_nr = j;
      } else {
        slot.tensor = SavedTensor(*t);
      }
    }
    node->add_saved(std::move(slot));
  }
  return {std::move(result), SavedTensors{node}};
}

}  // namespace

void bind_autograd_function(nb::module_& m) {
  nb::class_<SavedTensors>(m, "_SavedTensors").def("unpack", &SavedTensors::unpack);

  m.def(
      "_record_function",
      [](const std::string& name, nb::object run_backward,
         const std::vector<std::optional<Tensor>>& inputs, const std::vector<Tensor>& outputs,
         const std::vector<std::optional<Tensor>>& to_save,
         const std::vector<bool>& non_differentiable) {
        Recorded r = record_function(name, std::move(run_backward), inputs, outputs, to_save,
                                     non_differentiable);
        // None where the caller's own output object stays valid (same tensor, now with history).
        nb::list fresh;
        for (size_t i = 0; i < outputs.size(); ++i)
          fresh.append(r.outputs[i].is_same(outputs[i]) ? nb::none() : nb::cast(r.outputs[i]));
        return nb::make_tuple(fresh, r.saved ? nb::cast(*r.saved) : nb::none());
      },
      "name"_a, "run_backward"_a, "inputs"_a, "outputs"_a, "to_save"_a, "non_differentiable"_a,
      "Attaches a custom Function's outputs to a new graph node named `name` whose backward "
      "calls run_backward(grads) -> one gradient (or None) per input. Returns, per output, None "
      "or the fresh handle that replaces it (where it aliases an input or an earlier output), "
      "and the ctx's saved-tensor accessor (None when nothing requires grad).");
}

}  // namespace kiln::python
