#pragma once
// Reverse-mode autograd (define-by-run) and the derivative utilities built on it.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

// ---------------- grad mode ----------------
struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// Disables history recording in a scope (optimizer updates, evaluation).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

class EnableGradGuard {
 public:
  explicit EnableGradGuard(bool enabled = true) : prev_(GradMode::is_enabled()) {
    GradMode::set_enabled(enabled);
  }
  ~EnableGradGuard() { GradMode::set_enabled(prev_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

// ---------------- graph ----------------
class Node;

// Where a gradient goes: input `input_nr` of node `fn` (an input of `fn` is an output of the
// forward op that `fn` differentiates).
struct Edge {
  std::shared_ptr<Node> fn;
  int input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

// What a gradient arriving at one of a node's inputs must look like.
struct GradMeta {
  Shape shape;
  DType dtype = kDefaultFloat;
  Device device;
};

// A node of the backward graph: receives the gradients of a forward op's outputs and returns the
// gradients of its inputs (one per next edge).
class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(std::string name);
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  uint64_t sequence_nr() const { return sequence_nr_; }

  const std::vector<Edge>& next_edges() const { return next_edges_; }
  void set_next_edges(std::vector<Edge> edges) { next_edges_ = std::move(edges); }
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].valid(); }

  // One entry per forward output: the shape/dtype/device a gradient for it must have.
  const std::vector<GradMeta>& grad_meta() const { return grad_meta_; }
  void add_grad_meta(GradMeta m) { grad_meta_.push_back(std::move(m)); }

  virtual std::vector<Tensor> apply(std::vector<Tensor> grads) = 0;
  // Frees saved tensors once backward has used them (unless retain_graph).
  virtual void release_variables() {}

  // Hooks on the gradient of forward output `output_nr` (tensor hooks of non-leaves).
  int add_pre_hook(int output_nr, Tensor::Hook hook);
  void remove_pre_hook(int handle);
  Tensor run_pre_hooks(int output_nr, Tensor grad) const;
  bool has_pre_hooks() const { return !pre_hooks_.empty(); }

 private:
  std::string name_;
  uint64_t sequence_nr_;
  std::vector<Edge> next_edges_;
  std::vector<GradMeta> grad_meta_;
  struct PreHook {
    int output_nr;
    Tensor::Hook fn;
  };
  std::map<int, PreHook> pre_hooks_;
  int next_hook_id_ = 0;
};

// ---------------- reverse mode ----------------
namespace autograd {

// Computes and accumulates gradients of `outputs` into the `.grad` of the leaves. With
// create_graph, a leaf's .grad keeps the history that produced it, which refers back to the
// leaf (the same reference cycle as in PyTorch): reset .grad when done to free it.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

// Queues `callback` to run once when the backward pass now running on this thread has
// processed its whole graph, before backward() / grad() returns (torch's
// Variable._execution_engine.queue_callback). Called from a hook during backward; callbacks run
// in the order queued, and one may queue more. DDP waits for its last all-reduces here. Raises
// when no backward pass is running; when backward fails, its queued callbacks are dropped.
void queue_callback(std::function<void()> callback);

// For each of `inputs`, whether a gradient can flow to it from `outputs`: its grad_fn (or, for a
// leaf, its gradient accumulator) lies in the outputs' backward graph. DDP's
// find_unused_parameters asks this of the parameters after each forward.
std::vector<bool> reaches(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs);

// Returns d(outputs)/d(inputs) weighted by grad_outputs, leaving every `.grad` untouched.
// retain_graph defaults to create_graph. An input that does not influence the outputs is an
// error unless allow_unused, in which case its gradient is an undefined Tensor.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {},
                         std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                         bool allow_unused = false);

// ---------------- functional derivatives ----------------
using Function = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

struct FunctionResult {
  std::vector<Tensor> outputs;
  std::vector<Tensor> derivatives;
};

// Forward mode: J(primals) · tangents, one tensor per output. Computed with the double-vjp
// identity (J v = d/du [uᵀ J v] where uᵀJ is itself differentiable), so it works for every op
// whose backward is written with Kiln ops; see docs/ARCHITECTURE.md.
FunctionResult jvp(const Function& f, const std::vector<Tensor>& primals,
                   const std::vector<Tensor>& tangents, bool create_graph = false);
// Reverse mode: vᵀ · J(inputs), one tensor per input.
FunctionResult vjp(const Function& f, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& v, bool create_graph = false);
// Hessian-vector product of a scalar function.
FunctionResult hvp(const Function& f, const std::vector<Tensor>& inputs,
                   const std::vector<Tensor>& v, bool create_graph = false);
// Full Jacobian of output `out` w.r.t. input `in`, shape out.shape + in.shape; by rows of
// reverse mode, or by columns of forward mode when `forward_mode`.
Tensor jacobian(const Function& f, const std::vector<Tensor>& inputs, size_t out = 0, size_t in = 0,
                bool forward_mode = false);

}  // namespace autograd
}  // namespace kiln
