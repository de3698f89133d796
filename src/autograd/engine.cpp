// The backward pass: a topological traversal from the roots that runs each node once all the
// gradients flowing into it have been summed.
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "autograd/function_node.h"
#include "kiln/ops.h"

namespace kiln {
namespace {

struct CaptureTarget {
  Node* node;
  int input_nr;
};

// Makes a gradient fit the tensor it is for: sums broadcast dimensions away and casts the dtype
// (an op may compute in a promoted dtype); anything else is a bug in a backward formula.
Tensor conform(const Tensor& grad, const GradMeta& meta, const Node& producer) {
  Tensor g = grad;
  if (g.shape() != meta.shape) {
    KILN_CHECK(broadcasts_to(meta.shape, g.shape()), producer.name(),
               " returned a gradient of shape ", shape_str(g.shape()), " for an input of shape ",
               shape_str(meta.shape));
    g = sum_to(g, meta.shape);
  }
  if (g.dtype() != meta.dtype) g = g.to(meta.dtype);
  return g;
}

class GraphTask;
// The backward pass running on this thread (innermost when a hook runs a backward of its own):
// where autograd::queue_callback puts its callbacks.
thread_local GraphTask* current_task = nullptr;

class GraphTask {
 public:
  GraphTask(bool keep_graph, bool create_graph, bool accumulate)
      : keep_graph_(keep_graph), create_graph_(create_graph), accumulate_(accumulate) {}

  void queue_callback(std::function<void()> callback) {
    final_callbacks_.push_back(std::move(callback));
  }

  std::vector<Tensor> run(const std::vector<Edge>& roots, const std::vector<Tensor>& root_grads,
                          const std::vector<CaptureTarget>& captures) {
    struct Current {  // restored on exit, also when a node throws (its callbacks are dropped)
      GraphTask* previous;
      explicit Current(GraphTask* t) : previous(current_task) { current_task = t; }
      ~Current() { current_task = previous; }
    } current(this);
    count_dependencies(roots);
    captures_ = captures;
    captured_.resize(captures.size());
    if (!accumulate_) mark_needed();
    for (size_t i = 0; i < roots.size(); ++i) add_to_buffer(roots[i], root_grads[i]);

    auto later_first = [](Node* a, Node* b) { return a->sequence_nr() < b->sequence_nr(); };
    std::priority_queue<Node*, std::vector<Node*>, decltype(later_first)> ready(later_first);
    std::unordered_set<Node*> queued;
    for (const Edge& e : roots) {
      if (dependencies_[e.fn.get()] == 0 && queued.insert(e.fn.get()).second)
        ready.push(e.fn.get());
    }
    while (!ready.empty()) {
      Node* node = ready.top();
      ready.pop();
      execute(node);
      for (const Edge& e : node->next_edges()) {
        if (!e.valid()) continue;
        if (--dependencies_[e.fn.get()] == 0 && is_needed(e.fn.get())) ready.push(e.fn.get());
      }
    }
    // Final callbacks, in the order queued; one may queue another, which runs in this pass too.
    for (size_t i = 0; i < final_callbacks_.size(); ++i) {
      auto callback = std::move(final_callbacks_[i]);
      callback();
    }
    final_callbacks_.clear();
    return captured_;
  }

 private:
  void count_dependencies(const std::vector<Edge>& roots) {
    std::vector<Node*> stack;
    for (const Edge& e : roots) {
      if (seen_.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (const Edge& e : n->next_edges()) {
        if (!e.valid()) continue;
        ++dependencies_[e.fn.get()];
        if (seen_.insert(e.fn.get()).second) stack.push_back(e.fn.get());
      }
    }
  }

  // For grad(): a node runs only when one of its inputs leads to a captured input; captured
  // nodes are reached (to read their gradient) but do not run unless they lead further.
  void mark_needed() {
    std::unordered_set<Node*> targets;
    for (const auto& c : captures_) targets.insert(c.node);
    std::unordered_map<Node*, int> state;  // 0 unvisited, 1 in progress, 2 done
    for (Node* root : seen_) {
      if (state[root] == 2) continue;
      std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
      state[root] = 1;
      while (!stack.empty()) {
        auto& [n, i] = stack.back();
        if (i < n->next_edges().size()) {
          Node* child = n->next_edges()[i++].fn.get();
          if (child && state[child] == 0) {
            state[child] = 1;
            stack.push_back({child, 0});
          }
          continue;
        }
        bool run = false;
        for (const Edge& e : n->next_edges())
          run = run || (e.valid() && (runs_.count(e.fn.get()) || targets.count(e.fn.get())));
        if (run) runs_.insert(n);
        if (run || targets.count(n)) needed_.insert(n);
        state[n] = 2;
        stack.pop_back();
      }
    }
  }

  bool is_needed(Node* n) const { return accumulate_ || needed_.count(n) > 0; }
  bool runs(Node* n) const { return accumulate_ || runs_.count(n) > 0; }

  void add_to_buffer(const Edge& e, const Tensor& g) {
    auto& buf = buffers_[e.fn.get()];
    if (buf.empty()) buf.resize(e.fn->grad_meta().size());
    Tensor& slot = buf.at(size_t(e.input_nr));
    slot = slot.defined() ? add(slot, g) : g;
  }

  void execute(Node* node) {
    EnableGradGuard mode(create_graph_);
    std::vector<Tensor> grads = std::move(buffers_[node]);
    buffers_.erase(node);
    grads.resize(node->grad_meta().size());
    bool any_defined = false;
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) continue;
      if (node->has_pre_hooks()) grads[i] = node->run_pre_hooks(int(i), grads[i]);
      any_defined = true;
    }
    for (size_t k = 0; k < captures_.size(); ++k) {
      if (captures_[k].node != node) continue;
      Tensor g = grads[size_t(captures_[k].input_nr)];
      if (auto* acc = dynamic_cast<AccumulateGrad*>(node); acc && g.defined())
        g = acc->run_leaf_hooks(g);  // a leaf's hooks run whether it accumulates or not
      captured_[k] = g;
    }
    if (!any_defined || !runs(node)) return;
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) {
        const GradMeta& m = node->grad_meta()[i];
        grads[i] = zeros(m.shape, TensorOptions(m.dtype, m.device));
      }
    }
    std::vector<Tensor> outputs = node->apply(std::move(grads));
    if (!keep_graph_) node->release_variables();
    const auto& edges = node->next_edges();
    KILN_CHECK(outputs.size() == edges.size() || outputs.empty(), node->name(), " returned ",
               outputs.size(), " gradients for ", edges.size(), " inputs");
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!edges[i].valid() || !outputs[i].defined()) continue;
      const GradMeta& meta = edges[i].fn->grad_meta().at(size_t(edges[i].input_nr));
      add_to_buffer(edges[i], conform(outputs[i], meta, *node));
    }
  }

  bool keep_graph_, create_graph_, accumulate_;
  std::unordered_set<Node*> seen_;
  std::unordered_map<Node*, int> dependencies_;
  std::unordered_set<Node*> needed_;  // grad(): reached (runs_ plus the captured nodes)
  std::unordered_set<Node*> runs_;    // grad(): executed
  std::unordered_map<Node*, std::vector<Tensor>> buffers_;
  std::vector<CaptureTarget> captures_;
  std::vector<Tensor> captured_;
  std::vector<std::function<void()>> final_callbacks_;
};

// Root gradients: given, or ones for a one-element output.
std::vector<Tensor> root_gradients(const char* api, const std::vector<Tensor>& outputs,
                                   const std::vector<Tensor>& grad_outputs) {
  KILN_CHECK_VALUE(grad_outputs.empty() || grad_outputs.size() == outputs.size(), api, ": got ",
                   outputs.size(), " outputs but ", grad_outputs.size(), " gradients");
  std::vector<Tensor> grads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    KILN_CHECK(out.defined(), api, ": output ", i, " is an undefined tensor");
    KILN_CHECK(out.requires_grad(), api, ": element ", i,
               " of the outputs does not require grad and has no grad_fn");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      KILN_CHECK_VALUE(out.numel() == 1, api,
                       ": a gradient can be implicitly created only for one-element outputs, "
                       "but output ",
                       i, " has shape ", shape_str(out.shape()));
      g = ones_like(out);
    }
    KILN_CHECK_VALUE(g.shape() == out.shape(), api, ": gradient ", i, " has shape ",
                     shape_str(g.shape()), " but the output has shape ", shape_str(out.shape()));
    grads.push_back(g);
  }
  return grads;
}

std::vector<Edge> root_edges(const std::vector<Tensor>& outputs) {
  std::vector<Edge> edges;
  for (const Tensor& t : outputs) edges.push_back(gradient_edge(t));
  return edges;
}

}  // namespace

namespace autograd {

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              bool retain_graph, bool create_graph) {
  auto grads = root_gradients("backward", outputs, grad_outputs);
  GraphTask(retain_graph || create_graph, create_graph, true).run(root_edges(outputs), grads, {});
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, std::optional<bool> retain_graph,
                         bool create_graph, bool allow_unused) {
  auto grads = root_gradients("grad", outputs, grad_outputs);
  std::vector<CaptureTarget> captures;
  std::vector<Edge> keep_alive;  // AccumulateGrad nodes made here must outlive the task
  for (size_t i = 0; i < inputs.size(); ++i) {
    KILN_CHECK(inputs[i].defined() && inputs[i].requires_grad(), "grad: input ", i,
               " does not require grad");
    Edge e = gradient_edge(inputs[i]);
    keep_alive.push_back(e);
    captures.push_back({e.fn.get(), e.input_nr});
  }
  bool keep = retain_graph.value_or(create_graph);
  auto result = GraphTask(keep, create_graph, false).run(root_edges(outputs), grads, captures);
  for (size_t i = 0; i < result.size(); ++i) {
    KILN_CHECK(result[i].defined() || allow_unused, "grad: input ", i, " (shape ",
               shape_str(inputs[i].shape()),
               ") was not used in computing the outputs; pass allow_unused=true if this is "
               "intended");
  }
  return result;
}

std::vector<bool> reaches(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs) {
  std::unordered_set<const Node*> reached;
  std::vector<const Node*> stack;
  for (const Tensor& out : outputs) {
    if (!out.defined() || !out.requires_grad()) continue;
    Edge e = gradient_edge(out);
    if (reached.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  }
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges())
      if (e.valid() && reached.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  }
  std::vector<bool> out;
  for (const Tensor& t : inputs) {
    const AutogradMeta* meta = t.defined() ? t.impl()->autograd() : nullptr;
    std::shared_ptr<Node> node;
    if (meta) node = meta->grad_fn ? meta->grad_fn : meta->grad_accumulator.lock();
    out.push_back(node != nullptr && reached.count(node.get()) > 0);
  }
  return out;
}

void queue_callback(std::function<void()> callback) {
  KILN_CHECK(current_task != nullptr,
             "queue_callback: no backward pass is running on this thread; call it from a hook "
             "while backward runs");
  KILN_CHECK_VALUE(callback != nullptr, "queue_callback: the callback is empty");
  current_task->queue_callback(std::move(callback));
}

}  // namespace autograd
}  // namespace kiln
