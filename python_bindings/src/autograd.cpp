// Grad mode and reverse-mode entry points: kiln.autograd.backward / grad.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace kiln::python {

namespace {

// torch accepts a tensor or a sequence of tensors (and None inside grad_outputs).
std::vector<Tensor> tensor_list(nb::handle obj) {
  std::vector<Tensor> out;
  if (obj.is_none()) return out;
  if (is_tensor_object(obj.ptr())) return {nb::cast<Tensor>(obj)};
  for (nb::handle item : obj) out.push_back(item.is_none() ? Tensor() : nb::cast<Tensor>(item));
  return out;
}

}  // namespace

void bind_autograd_gradcheck(nb::module_& m);  // autograd_gradcheck.cpp

void bind_autograd(nb::module_& m) {
  m.def("is_grad_enabled", &GradMode::is_enabled);
  m.def("_set_grad_enabled", &GradMode::set_enabled, "mode"_a);

  m.def(
      "_backward",
      [](nb::handle tensors, nb::handle grad_tensors, std::optional<bool> retain_graph,
         bool create_graph) {
        autograd::backward(tensor_list(tensors), tensor_list(grad_tensors),
                           retain_graph.value_or(create_graph), create_graph);
      },
      "tensors"_a, nb::arg("grad_tensors").none() = nb::none(),
      nb::arg("retain_graph").none() = nb::none(), "create_graph"_a = false);
  m.def(
      "_grad",
      [](nb::handle outputs, nb::handle inputs, nb::handle grad_outputs,
         std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
        std::vector<Tensor> grads =
            autograd::grad(tensor_list(outputs), tensor_list(inputs), tensor_list(grad_outputs),
                           retain_graph, create_graph, allow_unused);
        nb::list out;
        for (const Tensor& g : grads) out.append(tensor_or_none(g));
        return nb::tuple(out);
      },
      "outputs"_a, "inputs"_a, nb::arg("grad_outputs").none() = nb::none(),
      nb::arg("retain_graph").none() = nb::none(), "create_graph"_a = false,
      "allow_unused"_a = false);
  // torch.autograd.Variable._execution_engine.queue_callback (DDP's end-of-backward step).
  m.def(
      "_queue_callback",
      [](nb::callable fn) {
        auto callback = std::make_shared<nb::object>(fn);
        autograd::queue_callback([callback] { (*callback)(); });
      },
      "callback"_a);
  // Whether each input is in the outputs' backward graph (DDP's find_unused_parameters).
  m.def(
      "_reaches",
      [](nb::handle outputs, nb::handle inputs) {
        nb::list out;
        for (bool r : autograd::reaches(tensor_list(outputs), tensor_list(inputs)))
          out.append(nb::bool_(r));
        return out;
      },
      "outputs"_a, "inputs"_a);
  bind_autograd_gradcheck(m);
}

}  // namespace kiln::python
