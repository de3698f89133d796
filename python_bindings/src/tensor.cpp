// kiln.Tensor: metadata, autograd state, conversions and views. Operators live in
// tensor_operators.cpp, in-place methods in tensor_inplace.cpp, x[...] in tensor_indexing.cpp,
// the op methods (x.sum(), ...) with their functions in ops_*.cpp.
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "core/tensor_impl.h"
#include "memory_format_arg.h"
#include "op_binding.h"
#include "shape_args.h"

namespace kiln::python {

namespace {

PyObject* g_size_type = nullptr;  // kiln.Size, set by the package at import (owned, never freed)

nb::object make_size(const Shape& shape) {
  nb::object tuple = nb::steal(PyTuple_New(Py_ssize_t(shape.size())));
  for (size_t i = 0; i < shape.size(); ++i) {
    PyTuple_SET_ITEM(tuple.ptr(), Py_ssize_t(i), PyLong_FromLongLong(shape[i]));
  }
  if (!g_size_type) return tuple;
  return nb::borrow(g_size_type)(tuple);
}

// One element as the Python number of the tensor's kind: bool, int or float.
nb::object item_of(const Tensor& t) {
  KILN_CHECK_VALUE(t.numel() == 1, "item: a tensor with ", t.numel(), " elements (shape ",
                   shape_str(t.shape()), ") cannot be converted to a Python number");
  Tensor c = t.device().is_cpu() ? t : t.to(Device::cpu());
  switch (c.dtype()) {
    case DType::Bool:
      return nb::bool_(*static_cast<const bool*>(c.data_ptr()));
    case DType::UInt8:
      return nb::int_(*static_cast<const uint8_t*>(c.data_ptr()));
    case DType::Int32:
      return nb::int_(*static_cast<const int32_t*>(c.data_ptr()));
    case DType::Int64:
      return nb::int_(*static_cast<const int64_t*>(c.data_ptr()));
    default:
      return nb::float_(c.item());
  }
}

// A Python callable kept by a C++ tensor (a gradient hook). The tensor may be freed without the
// GIL held, or after the interpreter has shut down: the reference is dropped under the GIL, and
// not at all once there is no interpreter left.
struct PythonCallable {
  PyObject* fn;
  explicit PythonCallable(nb::handle f) : fn(f.inc_ref().ptr()) {}
  PythonCallable(const PythonCallable&) = delete;
  PythonCallable& operator=(const PythonCallable&) = delete;
  ~PythonCallable() {
    if (!Py_IsInitialized()) return;
    nb::gil_scoped_acquire gil;
    Py_DECREF(fn);
  }
};

// A removable handle for register_hook, like torch.utils.hooks.RemovableHandle.
// Holds the tensor weakly, like torch's handle: keeping a handle must not keep the tensor (and
// its graph) alive.
struct HookHandle {
  std::weak_ptr<TensorImpl> tensor;
  int id = -1;
  bool post_accumulate = false;  // from register_post_accumulate_grad_hook
  void remove() {
    if (auto impl = tensor.lock(); impl && id >= 0) {
      if (post_accumulate)
        Tensor(impl).remove_post_accumulate_grad_hook(id);
      else
        Tensor(impl).remove_hook(id);
    }
    id = -1;
  }
};

// `self` itself when a conversion was a no-op (x.to("cpu") is x, as in torch), else `out`.
nb::object self_or(nb::handle self, const Tensor& out) {
  return out.is_same(nb::cast<Tensor&>(self)) ? nb::borrow(self) : nb::cast(out);
}

Tensor to_impl(const Tensor& t, std::optional<Device> device, std::optional<DType> dtype, bool copy,
               bool non_blocking = false, std::optional<MemoryFormat> format = std::nullopt) {
  Tensor out = t;
  if (device && *device != out.device()) out = out.to(*device, non_blocking);
  if (dtype && *dtype != out.dtype()) out = out.to(*dtype);
  if (copy && out.is_same(t)) out = t.clone();
  // Conversions keep the format (preserve_format); another one costs a copy unless already so.
  if (format) out = kiln::to_memory_format(out, *format);
  return out;
}

}  // namespace

nb::handle tensor_type() { return nb::type<Tensor>(); }

bool is_tensor_object(PyObject* o) { return nb::isinstance<Tensor>(nb::handle(o)); }

void bind_tensor(nb::module_& m) {
  bind_memory_format(m);
  m.def("_set_size_type", [](nb::handle type) {
    Py_XDECREF(g_size_type);
    g_size_type = type.inc_ref().ptr();
  });

  nb::class_<Node>(m, "Node")
      .def("name", &Node::name)
      .def_prop_ro("next_functions",
                   [](const Node& n) {
                     nb::list out;
                     for (const Edge& e : n.next_edges()) {
                       out.append(nb::make_tuple(e.fn ? nb::cast(e.fn) : nb::none(), e.input_nr));
                     }
                     return nb::tuple(out);
                   })
      .def("__repr__", [](const Node& n) { return "<" + n.name() + " object>"; });

  nb::class_<HookHandle>(m, "RemovableHandle").def("remove", &HookHandle::remove);

  // Weak references (WeakKeyDictionary of tensors, as with torch) cost one pointer per object.
  nb::class_<Tensor> cls(m, "Tensor", nb::is_weak_referenceable());
  cls.def(nb::init<const Tensor&>(), "data"_a)
      // --- metadata ---
      .def_prop_ro("shape", [](const Tensor& t) { return make_size(t.shape()); })
      .def(
          "size",
          [](const Tensor& t, std::optional<int64_t> dim) -> nb::object {
            if (dim) return nb::int_(t.size(*dim));
            return make_size(t.shape());
          },
          "dim"_a = nb::none())
      .def(
          "stride",
          [](const Tensor& t, std::optional<int64_t> dim) -> nb::object {
            if (dim) return nb::int_(t.stride(*dim));
            return nb::tuple(nb::cast(t.strides()));
          },
          "dim"_a = nb::none())
      .def_prop_ro("dtype", &Tensor::dtype)
      .def_prop_ro("device", &Tensor::device)
      .def_prop_ro("is_cuda", [](const Tensor& t) { return t.device().is_cuda(); })
      .def_prop_ro("ndim", &Tensor::dim)
      .def("dim", &Tensor::dim)
      .def("ndimension", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("nelement", &Tensor::numel)
      .def("element_size", [](const Tensor& t) { return element_size(t.dtype()); })
      .def("storage_offset", &Tensor::storage_offset)
      .def(
          "is_contiguous",
          [](const Tensor& t, nb::handle memory_format) {
            const auto f = memory_format_arg(memory_format, "is_contiguous");
            return f ? kiln::is_contiguous(t, *f) : t.is_contiguous();
          },
          nb::arg("memory_format").none() = nb::none())
      .def("is_floating_point", &Tensor::is_floating_point)
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()); })
      .def_prop_ro("_version", &Tensor::version)
      .def("item", &item_of)
      .def("__repr__", &Tensor::str)
      .def("__len__",
           [](const Tensor& t) {
             KILN_CHECK_TYPE(t.dim() > 0, "len() of a 0-d tensor");
             return t.size(0);
           })
      .def("__bool__",
           [](const Tensor& t) {
             KILN_CHECK(t.numel() == 1, "Boolean value of Tensor with ", t.numel(),
                        " values is ambiguous");
             return t.item() != 0;
           })
      .def("__float__", [](const Tensor& t) { return nb::float_(item_of(t)); })
      .def("__int__", [](const Tensor& t) { return nb::int_(item_of(t)); })
      .def("__index__",
           [](const Tensor& t) {
             KILN_CHECK_TYPE(is_integral(t.dtype()) && t.numel() == 1,
                             "only integer tensors of a single element can be converted to an "
                             "index (got ",
                             dtype_name(t.dtype()), " of shape ", shape_str(t.shape()), ")");
             return nb::int_(item_of(t));
           })
      .def("__hash__",  // identity, like torch: tensors in sets and dict keys
           [](nb::handle self) { return std::hash<const void*>()(self.ptr()); })

      // --- autograd ---
      .def_prop_rw(
          "requires_grad", &Tensor::requires_grad,
          [](Tensor& t, bool flag) { t.requires_grad_(flag); }, nb::for_setter("value"_a))
      .def(
          "requires_grad_",
          [](nb::handle self, bool flag) {
            nb::cast<Tensor&>(self).requires_grad_(flag);
            return nb::borrow(self);
          },
          "requires_grad"_a = true)
      .def_prop_ro("is_leaf", &Tensor::is_leaf)
      .def_prop_rw(
          "grad", [](const Tensor& t) { return tensor_or_none(t.grad()); },
          [](Tensor& t, std::optional<Tensor> g) { t.set_grad(g.value_or(Tensor())); },
          nb::for_setter(nb::arg("value").none()))
      .def_prop_ro("grad_fn", &Tensor::grad_fn)
      .def_prop_rw(
          "data", [](const Tensor& t) { return t.detach(); },
          [](Tensor& t, const Tensor& other) { t.set_data(other); })
      .def(
          "backward",
          [](const Tensor& t, std::optional<Tensor> gradient, std::optional<bool> retain_graph,
             bool create_graph) {
            t.backward(gradient.value_or(Tensor()), retain_graph.value_or(create_graph),
                       create_graph);
          },
          nb::arg("gradient").none() = nb::none(), nb::arg("retain_graph").none() = nb::none(),
          "create_graph"_a = false)
      .def("detach", &Tensor::detach)
      .def("detach_",
           [](nb::handle self) {
             Tensor& t = nb::cast<Tensor&>(self);
             t = t.detach();
             return nb::borrow(self);
           })
      .def("retain_grad", &Tensor::retain_grad)
      .def_prop_ro("retains_grad",
                   [](const Tensor& t) {
                     const AutogradMeta* meta = t.impl()->autograd();
                     return meta != nullptr && meta->retains_grad;
                   })
      .def(
          "register_hook",
          [](const Tensor& t, nb::callable fn) {
            auto hook = std::make_shared<PythonCallable>(fn);
            int id = t.register_hook([hook](const Tensor& g) -> Tensor {
              nb::object r = nb::borrow(hook->fn)(g);
              if (r.is_none()) return Tensor();
              KILN_CHECK_TYPE(nb::isinstance<Tensor>(r),
                              "register_hook: a hook must return a Tensor or None, got ",
                              python_type_name(r));
              return nb::cast<Tensor>(r);
            });
            return HookHandle{t.impl_ptr(), id};
          },
          "hook"_a)
      .def(
          "register_post_accumulate_grad_hook",
          [](const Tensor& t, nb::callable fn) {
            auto hook = std::make_shared<PythonCallable>(fn);
            int id = t.register_post_accumulate_grad_hook([hook](const Tensor& param) {
              nb::object r = nb::borrow(hook->fn)(param);
              KILN_CHECK_TYPE(r.is_none(),
                              "register_post_accumulate_grad_hook: a hook must return None, got ",
                              python_type_name(r));
            });
            return HookHandle{t.impl_ptr(), id, true};
          },
          "hook"_a)

      // --- conversions and copies ---
      .def(
          "to",
          [](nb::handle self, DType dtype, bool non_blocking, bool copy, nb::handle memory_format) {
            (void)non_blocking;  // a dtype conversion stays on its device: nothing to overlap
            return self_or(self, to_impl(nb::cast<Tensor&>(self), std::nullopt, dtype, copy, false,
                                         memory_format_arg(memory_format, "to")));
          },
          "dtype"_a, "non_blocking"_a = false, "copy"_a = false,
          nb::arg("memory_format").none() = nb::none())
      .def(
          "to",
          [](nb::handle self, const Tensor& other, bool non_blocking, bool copy,
             nb::handle memory_format) {
            return self_or(self,
                           to_impl(nb::cast<Tensor&>(self), other.device(), other.dtype(), copy,
                                   non_blocking, memory_format_arg(memory_format, "to")));
          },
          "other"_a, "non_blocking"_a = false, "copy"_a = false,
          nb::arg("memory_format").none() = nb::none())
      .def(
          "to",
          [](nb::handle self, nb::handle device, std::optional<DType> dtype, bool non_blocking,
             bool copy, nb::handle memory_format) {
            return self_or(self,
                           to_impl(nb::cast<Tensor&>(self), device_arg(device, "to"), dtype, copy,
                                   non_blocking, memory_format_arg(memory_format, "to")));
          },
          nb::arg("device").none() = nb::none(), nb::arg("dtype").none() = nb::none(),
          "non_blocking"_a = false, "copy"_a = false, nb::arg("memory_format").none() = nb::none())
      .def("cpu", [](nb::handle self) { return self_or(self, nb::cast<Tensor&>(self).cpu()); })
      .def(
          "cuda",
          [](nb::handle self, nb::handle device, bool non_blocking) {
            std::optional<Device> d = device_arg(device, "cuda");
            return self_or(self,
                           nb::cast<Tensor&>(self).to(d.value_or(Device::cuda()), non_blocking));
          },
          nb::arg("device").none() = nb::none(), "non_blocking"_a = false)
      .def(
          "pin_memory",
          [](nb::handle self, nb::handle device) {
            (void)device;  // torch's deprecated argument: pinned memory serves every GPU here
            return self_or(self, nb::cast<Tensor&>(self).pin_memory());
          },
          nb::arg("device").none() = nb::none())
      .def(
          "is_pinned",
          [](const Tensor& t, nb::handle device) {
            (void)device;
            return t.is_pinned();
          },
          nb::arg("device").none() = nb::none())
      .def("type_as",
           [](nb::handle self, const Tensor& o) {
             return self_or(self, nb::cast<Tensor&>(self).to(o.dtype()));
           })
      .def("clone", &Tensor::clone)
      .def(
          "contiguous",
          [](nb::handle self, nb::handle memory_format) {
            const Tensor& t = nb::cast<Tensor&>(self);
            const auto f = memory_format_arg(memory_format, "contiguous");
            return self_or(self, f ? kiln::contiguous(t, *f) : t.contiguous());
          },
          nb::arg("memory_format").none() = nb::none())

      // --- views ---
      .def("view",
           [](const Tensor& t, nb::args shape) {
             if (shape.size() == 1 && nb::isinstance<DType>(shape[0])) {
               KILN_CHECK_VALUE(nb::cast<DType>(shape[0]) == t.dtype(),
                                "view(dtype): reinterpreting ", dtype_name(t.dtype()), " as ",
                                dtype_name(nb::cast<DType>(shape[0])), " is not supported");
               return t;
             }
             return t.view(int_list_from_args(shape, "view"));
           })
      .def("view_as", [](const Tensor& t, const Tensor& o) { return t.view(o.shape()); })
      .def("reshape",
           [](const Tensor& t, nb::args shape) {
             return t.reshape(int_list_from_args(shape, "reshape"));
           })
      .def("reshape_as", [](const Tensor& t, const Tensor& o) { return t.reshape(o.shape()); })
      .def("permute", [](const Tensor& t,
                         nb::args dims) { return t.permute(int_list_from_args(dims, "permute")); })
      .def("expand", [](const Tensor& t,
                        nb::args sizes) { return t.expand(int_list_from_args(sizes, "expand")); })
      .def("expand_as", &Tensor::expand_as)
      .def("transpose", &Tensor::transpose, "dim0"_a, "dim1"_a)
      .def("swapaxes", &Tensor::transpose, "axis0"_a, "axis1"_a)
      .def("t", &Tensor::t)
      .def_prop_ro("T",
                   [](const Tensor& t) {
                     std::vector<int64_t> dims;
                     for (int64_t d = t.dim() - 1; d >= 0; --d) dims.push_back(d);
                     return t.permute(dims);
                   })
      .def("narrow", &Tensor::narrow, "dim"_a, "start"_a, "length"_a)
      .def("select", &Tensor::select, "dim"_a, "index"_a)
      .def(
          "squeeze",
          [](const Tensor& t, std::optional<int64_t> dim) {
            return dim ? t.squeeze(*dim) : t.squeeze();
          },
          nb::arg("dim").none() = nb::none())
      .def("unsqueeze", &Tensor::unsqueeze, "dim"_a)
      .def("flatten", &Tensor::flatten, "start_dim"_a = 0, "end_dim"_a = -1);

  bind_tensor_operators(cls);
  bind_tensor_inplace(cls);
  bind_tensor_indexing(cls);
  bind_index_put_function(m);
  bind_ops_math(m, cls);
  bind_ops_activation(m);
  bind_ops_index(m, cls);
  bind_ops_reduce(m, cls);
  bind_ops_shape(m, cls);
}

}  // namespace kiln::python
