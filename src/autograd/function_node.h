#pragma once
// The node every op records: a backward formula (a lambda written with Kiln ops, so it is itself
// differentiable) plus the tensors it saved. Saved tensors are checked against in-place
// modification when backward unpacks them.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor_impl.h"
#include "kiln/autograd.h"

namespace kiln {

// A forward input kept for backward; remembers the storage version it was saved at.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t) : tensor_(t), version_(t.defined() ? t.version() : 0) {}
  // The tensor, or an error naming `node` if it was modified in place since it was saved.
  Tensor get(const Node& node) const;
  bool defined() const { return tensor_.defined(); }

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
};

class FunctionNode : public Node {
 public:
  using Backward = std::function<std::vector<Tensor>(FunctionNode&, const std::vector<Tensor>&)>;
  FunctionNode(std::string name, Backward backward)
      : Node(std::move(name)), backward_(std::move(backward)) {}

  std::vector<Tensor> apply(std::vector<Tensor> grads) override;
  void release_variables() override;

  // Saves forward output `i` without a reference cycle (the output's grad_fn is this node).
  void save_output(int i, const Tensor& out);
  // The saved output, rewired to this node so a backward that uses it stays differentiable.
  Tensor saved_output(int i) const;

 private:
  Backward backward_;
  struct SavedOutput {
    std::shared_ptr<TensorImpl> data;  // same storage/geometry, no autograd state
    uint64_t version = 0;
    int output_nr = -1;
  };
  std::vector<SavedOutput> saved_outputs_;
  bool released_ = false;
};

// Leaves' gradient sink: adds the incoming gradient into the leaf's .grad.
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  std::vector<Tensor> apply(std::vector<Tensor> grads) override;
  // The leaf's tensor hooks applied to `grad` (also used by grad(), which does not accumulate).
  Tensor run_leaf_hooks(Tensor grad) const;

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// True when grad mode is on and some input requires grad: the op must record history.
bool should_record(std::initializer_list<const Tensor*> inputs);
bool should_record(const std::vector<Tensor>& inputs);

// The edge along which a gradient for `t` flows (its grad_fn, or its AccumulateGrad).
Edge gradient_edge(const Tensor& t);

// Creates a node named `name` for an op with `inputs` and `outputs`, making each output's
// grad_fn point at it. `backward` receives one gradient per output and returns one per input
// (undefined where the input needs none). Outputs listed in `save_outputs` are saved.
std::shared_ptr<FunctionNode> record(std::string name, const std::vector<Tensor>& inputs,
                                     const std::vector<Tensor>& outputs,
                                     FunctionNode::Backward backward,
                                     std::initializer_list<int> save_outputs = {});

}  // namespace kiln
