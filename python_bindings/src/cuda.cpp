// kiln._C._cuda: the CUDA runtime API behind kiln.cuda (python_bindings/kiln/cuda.py): devices,
// synchronisation, events, memory statistics, and kiln.cuda.OutOfMemoryError (the TF32 switch is
// kiln.backends', backends.cpp).
// Every function works in a build without the CUDA backend: queries answer "no device", the
// rest raise the C++ error that says why.
#include "kiln/cuda.h"

#include "op_binding.h"

namespace kiln::python {

namespace {

// kiln.cuda.OutOfMemoryError (a RuntimeError, as torch.cuda.OutOfMemoryError). Owned for the
// interpreter's lifetime; never released.
PyObject* g_out_of_memory_error = nullptr;

// A device argument of kiln.cuda's functions as a CUDA index: -1 for None (the current device),
// an int, "cuda:1", or a kiln.device of type cuda.
int cuda_index(nb::handle device, const char* op) {
  std::optional<Device> d = device_arg(device, op);
  if (!d) return -1;
  KILN_CHECK_VALUE(d->is_cuda(), op, ": expected a CUDA device, got ", d->str());
  return d->index;
}

// torch's Event.record(stream) / wait(stream): Kiln has one compute stream per device and no
// stream objects, so only the default (None) is accepted.
void check_no_stream(nb::handle stream, const char* op) {
  if (!stream.is_none()) {
    raise_not_implemented(std::string(op) +
                          ": Kiln has no stream objects; events are recorded on and waited "
                          "for by the device's compute stream (pass no stream)");
  }
}

nb::dict memory_stats_dict(int device) {
  cuda::MemoryStats s = cuda::memory_stats(device);
  nb::dict d;
  // torch.cuda.memory_stats()'s keys, for the figures Kiln keeps.
  d["allocated_bytes.all.current"] = s.allocated_bytes;
  d["allocated_bytes.all.peak"] = s.peak_allocated_bytes;
  d["reserved_bytes.all.current"] = s.reserved_bytes;
  d["reserved_bytes.all.peak"] = s.peak_reserved_bytes;
  d["allocation.all.current"] = s.allocations;
  d["allocation.all.peak"] = s.peak_allocations;
  d["allocation.all.allocated"] = s.num_allocs;
  d["allocation.all.freed"] = s.num_frees;
  d["num_alloc_retries"] = s.num_alloc_retries;
  d["num_ooms"] = s.num_ooms;
  return d;
}

}  // namespace

void bind_cuda(nb::module_& parent) {
  nb::module_ m = parent.def_submodule("_cuda", "kiln.cuda's C++ side");

  g_out_of_memory_error =
      PyErr_NewException("kiln.cuda.OutOfMemoryError", PyExc_RuntimeError, nullptr);
  if (!g_out_of_memory_error) throw nb::python_error();
  m.attr("OutOfMemoryError") = nb::handle(g_out_of_memory_error);
  // Registered after bind_errors' translator, so tried before it (nanobind tries the newest
  // first); every other exception goes on to that one.
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const cuda::OutOfMemoryError& e) {
      PyErr_SetString(g_out_of_memory_error, e.what());
    }
  });

  m.def("device_count", &cuda::device_count);
  m.def("current_device", &cuda::current_device);
  m.def(
      "set_device",
      [](nb::handle device) {
        int index = cuda_index(device, "set_device");
        if (index >= 0) cuda::set_device(index);  // None: nothing to do, as torch
      },
      nb::arg("device").none());
  m.def(
      "get_device_name",
      [](nb::handle device) {
        return cuda::get_device_name(cuda_index(device, "get_device_name"));
      },
      nb::arg("device").none() = nb::none());
  m.def(
      "synchronize",
      [](nb::handle device) {
        int index = cuda_index(device, "synchronize");
        nb::gil_scoped_release release;
        cuda::synchronize_device(index);
      },
      nb::arg("device").none() = nb::none());
  m.def(
      "memory_stats",
      [](nb::handle device) { return memory_stats_dict(cuda_index(device, "memory_stats")); },
      nb::arg("device").none() = nb::none());
  m.def(
      "reset_peak_memory_stats",
      [](nb::handle device) {
        cuda::reset_peak_memory_stats(cuda_index(device, "reset_peak_memory_stats"));
      },
      nb::arg("device").none() = nb::none());
  m.def("empty_cache", []() {
    nb::gil_scoped_release release;
    cuda::empty_cache();
  });

  nb::class_<cuda::Event>(m, "Event")
      .def(nb::init<bool>(), "enable_timing"_a = false)
      .def_prop_ro("enable_timing", &cuda::Event::enable_timing)
      .def_prop_ro("recorded", &cuda::Event::recorded)
      .def_prop_ro("device_index", &cuda::Event::device)
      .def(
          "record",
          [](cuda::Event& e, nb::handle stream) {
            check_no_stream(stream, "Event.record");
            e.record();
          },
          nb::arg("stream").none() = nb::none())
      .def(
          "wait",
          [](const cuda::Event& e, nb::handle stream) {
            check_no_stream(stream, "Event.wait");
            e.wait();
          },
          nb::arg("stream").none() = nb::none())
      .def("query", &cuda::Event::query)
      .def("synchronize", &cuda::Event::synchronize, nb::call_guard<nb::gil_scoped_release>())
      .def(
          "elapsed_time",
          [](const cuda::Event& e, const cuda::Event& end) { return e.elapsed_time(end); },
          "end_event"_a);
}

}  // namespace kiln::python
