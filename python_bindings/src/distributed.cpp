// kiln._C._distributed: the process groups behind kiln.distributed (python_bindings/kiln/
// distributed): init/destroy, the collectives on the default group, Work handles and the
// differentiable collectives. Everything that waits releases the GIL, so other Python threads
// (a DataLoader's, say) keep running while a rank waits for its peers.
#include "kiln/distributed/distributed.h"

#include <nanobind/stl/shared_ptr.h>

#include <chrono>
#include <cmath>

#include "bindings.h"

namespace kiln::python {

namespace {

namespace dist = kiln::distributed;
using GroupPtr = std::shared_ptr<dist::ProcessGroup>;

// `group` from Python: None is the default group (torch's group=None / group.WORLD).
GroupPtr resolve(const GroupPtr& group) { return group ? group : dist::default_group(); }

}  // namespace

void bind_distributed(nb::module_& parent) {
  nb::module_ m = parent.def_submodule("_distributed", "kiln.distributed's C++ side");

  nb::enum_<dist::ReduceOp>(m, "ReduceOp")
      .value("SUM", dist::ReduceOp::Sum)
      .value("AVG", dist::ReduceOp::Avg)
      .value("MAX", dist::ReduceOp::Max)
      .value("MIN", dist::ReduceOp::Min);

  nb::class_<dist::Work>(m, "Work",
                         "The handle of an asynchronous collective (torch.distributed's Work).")
      .def(
          "wait",
          [](dist::Work& w) {
            nb::gil_scoped_release release;
            w.wait();
            return true;
          },
          "Blocks until the collective is done (for NCCL: orders the compute stream after it); "
          "raises the error it failed with.")
      .def("is_completed", &dist::Work::is_completed);

  nb::class_<dist::ProcessGroup>(m, "ProcessGroup")
      .def("rank", &dist::ProcessGroup::rank)
      .def("size", &dist::ProcessGroup::size)
      .def("backend", &dist::ProcessGroup::backend_name);

  m.def(
      "init_process_group",
      [](const std::string& backend, double timeout_seconds, std::optional<bool> checked) {
        dist::InitOptions options;
        if (timeout_seconds > 0) {
          options.timeout = std::chrono::milliseconds(
              std::max<long long>(1, std::llround(timeout_seconds * 1000.0)));
        }
        if (checked) options.checked = *checked;
        nb::gil_scoped_release release;
        return dist::init_process_group(backend, options);
      },
      "backend"_a, "timeout_seconds"_a = 0.0, "checked"_a = nb::none());
  m.def("destroy_process_group", &dist::destroy_process_group,
        nb::call_guard<nb::gil_scoped_release>());
  m.def("is_initialized", &dist::is_initialized);
  m.def("is_available", &dist::is_available, "backend"_a);
  m.def("default_group", &dist::default_group);
  m.def("get_rank", &dist::get_rank);
  m.def("get_world_size", &dist::get_world_size);
  m.def(
      "abort_job", [](const std::string& message) { dist::abort_job(message); }, "message"_a,
      "Prints the message and ends every process of the job (MPI_Abort).");

  // The collectives, on `group` (None: the default group). Each returns its Work.
  m.def(
      "all_reduce",
      [](const Tensor& t, dist::ReduceOp op, const GroupPtr& group) {
        GroupPtr pg = resolve(group);
        nb::gil_scoped_release release;
        return pg->all_reduce(t, op);
      },
      "tensor"_a, "op"_a, "group"_a = nb::none());
  m.def(
      "broadcast",
      [](const Tensor& t, int src, const GroupPtr& group) {
        GroupPtr pg = resolve(group);
        nb::gil_scoped_release release;
        return pg->broadcast(t, src);
      },
      "tensor"_a, "src"_a, "group"_a = nb::none());
  m.def(
      "all_gather",
      [](const std::vector<Tensor>& outputs, const Tensor& input, const GroupPtr& group) {
        GroupPtr pg = resolve(group);
        nb::gil_scoped_release release;
        return pg->all_gather(outputs, input);
      },
      "tensor_list"_a, "tensor"_a, "group"_a = nb::none());
  m.def(
      "reduce_scatter",
      [](const Tensor& output, const std::vector<Tensor>& inputs, dist::ReduceOp op,
         const GroupPtr& group) {
        GroupPtr pg = resolve(group);
        nb::gil_scoped_release release;
        return pg->reduce_scatter(output, inputs, op);
      },
      "output"_a, "input_list"_a, "op"_a, "group"_a = nb::none());
  m.def(
      "barrier",
      [](const GroupPtr& group) {
        GroupPtr pg = resolve(group);
        nb::gil_scoped_release release;
        return pg->barrier();
      },
      "group"_a = nb::none());

  // Differentiable versions (kiln.distributed.nn.functional); they block until done.
  m.def(
      "functional_all_reduce",
      [](const Tensor& t, dist::ReduceOp op, const GroupPtr& group) {
        GroupPtr pg = resolve(group);
        nb::gil_scoped_release release;
        return dist::all_reduce(t, op, *pg);
      },
      "tensor"_a, "op"_a, "group"_a = nb::none());
  m.def(
      "functional_all_gather",
      [](const Tensor& t, const GroupPtr& group) {
        GroupPtr pg = resolve(group);
        nb::gil_scoped_release release;
        return dist::all_gather(t, *pg);
      },
      "tensor"_a, "group"_a = nb::none());
  m.def(
      "functional_reduce_scatter",
      [](const std::vector<Tensor>& inputs, dist::ReduceOp op, const GroupPtr& group) {
        GroupPtr pg = resolve(group);
        nb::gil_scoped_release release;
        return dist::reduce_scatter(inputs, op, *pg);
      },
      "input_list"_a, "op"_a, "group"_a = nb::none());
}

}  // namespace kiln::python
