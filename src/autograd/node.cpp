#include <atomic>

#include "autograd/function_node.h"
#include "kiln/ops.h"

namespace kiln {
namespace {
std::atomic<uint64_t> next_sequence_nr{0};
}

Node::Node(std::string name) : name_(std::move(name)), sequence_nr_(next_sequence_nr++) {}

int Node::add_pre_hook(int output_nr, Tensor::Hook hook) {
  int id = next_hook_id_++;
  pre_hooks_[id] = PreHook{output_nr, std::move(hook)};
  return id;
}

void Node::remove_pre_hook(int handle) { pre_hooks_.erase(handle); }

Tensor Node::run_pre_hooks(int output_nr, Tensor grad) const {
  for (const auto& [id, hook] : pre_hooks_) {
    if (hook.output_nr != output_nr) continue;
    Tensor replaced = hook.fn(grad);
    if (replaced.defined()) grad = replaced;
  }
  return grad;
}

Tensor SavedTensor::get(const Node& node) const {
  if (tensor_.defined() && tensor_.version() != version_) {
    throw Error(detail::concat(
        "one of the tensors needed for gradient computation has been modified by an in-place "
        "operation: the ",
        shape_str(tensor_.shape()), " ", dtype_name(tensor_.dtype()), " tensor saved by ",
        node.name(), " is at version ", tensor_.version(), "; expected version ", version_));
  }
  return tensor_;
}

std::vector<Tensor> FunctionNode::apply(std::vector<Tensor> grads) {
  if (released_) {
    throw Error(name() +
                ": trying to backward through the graph a second time (or to use saved "
                "tensors after they were freed). Pass retain_graph=true to the first backward "
                "if you need to backward twice.");
  }
  return backward_(*this, grads);
}

void FunctionNode::release_variables() {
  backward_ = nullptr;
  saved_outputs_.clear();
  released_ = true;
}

void FunctionNode::save_output(int i, const Tensor& out) {
  saved_outputs_.push_back({out.impl()->shallow_copy(), out.version(), i});
}

Tensor FunctionNode::saved_output(int i) const {
  for (const auto& s : saved_outputs_) {
    if (s.output_nr != i) continue;
    if (s.data->storage()->version() != s.version) {
      throw Error(detail::concat(
          "one of the tensors needed for gradient computation has been modified by an in-place "
          "operation: output ",
          i, " of ", name(), " (", shape_str(s.data->shape()), " ", dtype_name(s.data->dtype()),
          ") is at version ", s.data->storage()->version(), "; expected version ", s.version));
    }
    auto impl = s.data->shallow_copy();
    auto& meta = impl->autograd_mut();
    meta.grad_fn = std::const_pointer_cast<Node>(shared_from_this());
    meta.output_nr = i;
    return Tensor(impl);
  }
  throw Error(name() + ": output " + std::to_string(i) + " was not saved");
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf)
    : Node("AccumulateGrad"), leaf_(std::move(leaf)) {
  add_grad_meta({leaf_->shape(), leaf_->dtype(), leaf_->device()});
}

Tensor AccumulateGrad::run_leaf_hooks(Tensor grad) const {
  if (const AutogradMeta* meta = leaf_->autograd()) {
    for (const auto& [id, hook] : meta->hooks) {
      Tensor replaced = hook(grad);
      if (replaced.defined()) grad = replaced;
    }
  }
  return grad;
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor> grads) {
  Tensor g = run_leaf_hooks(std::move(grads.at(0)));
  grads.clear();
  if (!g.defined()) return {};
  auto& meta = leaf_->autograd_mut();
  if (GradMode::is_enabled()) {  // create_graph: .grad keeps the history of the gradient
    meta.grad = meta.grad ? add(Tensor(meta.grad), g).impl_ptr() : g.impl_ptr();
  } else if (!meta.grad) {
    // Take the buffer over when nothing else can see it (no other handle, no view); otherwise
    // copy, so that a later in-place accumulation cannot write into someone else's tensor.
    bool sole_owner = g.impl_ptr().use_count() == 1 && g.impl()->storage().use_count() == 1 &&
                      g.is_contiguous() && !g.requires_grad();
    meta.grad = sole_owner ? g.impl_ptr() : g.detach().clone().impl_ptr();
  } else {
    Tensor(meta.grad).add_(g);
  }
  if (!meta.post_accumulate_hooks.empty()) {
    // A copy: a hook may remove itself (or register another) while they run.
    auto hooks = meta.post_accumulate_hooks;
    const Tensor leaf(leaf_);
    for (const auto& [id, hook] : hooks) hook(leaf);
  }
  return {};
}

bool should_record(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool should_record(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  auto& meta = t.impl()->autograd_mut();
  if (meta.grad_fn) return {meta.grad_fn, meta.output_nr};
  std::shared_ptr<Node> acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    meta.grad_accumulator = acc;
  }
  return {acc, 0};
}

std::shared_ptr<FunctionNode> record(std::string name, const std::vector<Tensor>& inputs,
                                     const std::vector<Tensor>& outputs,
                                     FunctionNode::Backward backward,
                                     std::initializer_list<int> save_outputs) {
  auto node = std::make_shared<FunctionNode>(std::move(name), std::move(backward));
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& in : inputs) edges.push_back(gradient_edge(in));
  node->set_next_edges(std::move(edges));
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    node->add_grad_meta({out.shape(), out.dtype(), out.device()});
    auto& meta = out.impl()->autograd_mut();
    meta.grad_fn = node;
    meta.output_nr = int(i);
  }
  for (int i : save_outputs) node->save_output(i, outputs[size_t(i)]);
  return node;
}

}  // namespace kiln
