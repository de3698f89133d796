// NumPy and DLPack interchange, without copies where dtype and memory allow:
//   Tensor.numpy(), np.asarray(t), Tensor.__dlpack__()  -> views of the tensor's memory (the
//       array keeps the tensor's storage alive);
//   kiln.from_numpy(a), kiln.from_dlpack(obj)             -> tensors over the array's memory
//       (the tensor keeps the array alive).
// NumPy has no bfloat16, so a bfloat16 tensor cannot become a NumPy array (torch refuses too);
// negative strides cannot be expressed as a Kiln view and are refused, as torch.from_numpy does.
#include <nanobind/ndarray.h>

#include "bindings.h"
#include "core/tensor_impl.h"

namespace kiln::python {

namespace {

namespace dl = nb::dlpack;

dl::dtype dlpack_dtype(DType t) {
  switch (t) {
    case DType::Bool:
      return nb::dtype<bool>();
    case DType::UInt8:
      return nb::dtype<uint8_t>();
    case DType::Int32:
      return nb::dtype<int32_t>();
    case DType::Int64:
      return nb::dtype<int64_t>();
    case DType::Float16:
      return {uint8_t(dl::dtype_code::Float), 16, 1};
    case DType::BFloat16:
      return {uint8_t(dl::dtype_code::Bfloat), 16, 1};
    case DType::Float32:
      return nb::dtype<float>();
    case DType::Float64:
      return nb::dtype<double>();
  }
  return nb::dtype<float>();
}

bool kiln_dtype(dl::dtype d, DType& out) {
  for (int i = 0; i < kNumDTypes; ++i) {
    if (dlpack_dtype(DType(i)) == d) {
      out = DType(i);
      return true;
    }
  }
  return false;
}

// A capsule that keeps `t` (and so its storage) alive for as long as the exported array lives.
nb::capsule owner_of(const Tensor& t) {
  return nb::capsule(new Tensor(t), [](void* p) noexcept { delete static_cast<Tensor*>(p); });
}

template <class Framework>
nb::ndarray<Framework> export_view(const Tensor& t) {
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  const Shape& strides = t.strides();
  int device_type = t.device().is_cpu() ? nb::device::cpu::value : nb::device::cuda::value;
  return nb::ndarray<Framework>(t.data_ptr(), shape.size(), shape.data(), owner_of(t),
                                strides.data(), dlpack_dtype(t.dtype()), device_type,
                                t.device().is_cpu() ? 0 : t.device().index);
}

nb::object to_numpy(const Tensor& t, bool force) {
  Tensor src = t;
  if (force) {
    src = src.detach().cpu();
    if (src.dtype() == DType::BFloat16) src = src.to(DType::Float32);
  }
  KILN_CHECK(!src.requires_grad(),
             "numpy: can't call numpy() on a tensor that requires grad; use "
             "tensor.detach().numpy() instead");
  KILN_CHECK_TYPE(src.device().is_cpu(), "numpy: can't convert a ", src.device().str(),
                  " tensor to NumPy; use tensor.cpu() to copy it to host memory first");
  KILN_CHECK_TYPE(src.dtype() != DType::BFloat16,
                  "numpy: NumPy has no bfloat16; convert first (tensor.float().numpy())");
  return export_view<nb::numpy>(src).cast();
}

// A tensor over the memory of any array that speaks DLPack or the buffer protocol.
Tensor from_array(const nb::ndarray<nb::ro>& a, const char* op) {
  DType dtype;
  KILN_CHECK_TYPE(kiln_dtype(a.dtype(), dtype), op,
                  ": unsupported dtype (supported: bool, uint8, int32, int64, float16, bfloat16, "
                  "float32, float64)");
  Device device;
  if (a.device_type() == nb::device::cpu::value) {
    device = Device::cpu();
  } else {
    KILN_CHECK_TYPE(a.device_type() == nb::device::cuda::value, op,
                    ": arrays on DLPack device type ", a.device_type(),
                    " are not supported (cpu and cuda are)");
    device = Device::cuda(int(a.device_id()));
  }
  Shape shape(a.ndim()), strides(a.ndim());
  int64_t last = 0;  // offset of the last element, in elements
  bool empty = false;
  for (size_t d = 0; d < a.ndim(); ++d) {
    shape[d] = int64_t(a.shape(d));
    strides[d] = a.stride(d);
    KILN_CHECK_VALUE(strides[d] >= 0 || shape[d] <= 1, op,
                     ": the array has a negative stride (dimension ", d,
                     "); copy it first, e.g. numpy.ascontiguousarray(a)");
    if (strides[d] < 0) strides[d] = 0;
    empty = empty || shape[d] == 0;
    last += (shape[d] - 1) * strides[d];
  }
  size_t nbytes = empty ? 0 : size_t(last + 1) * element_size(dtype);
  // The storage owns a reference to the array; it may die on any thread, so the release takes
  // the GIL (and is skipped once the interpreter is gone, when there is nothing left to free).
  auto* keep = new nb::ndarray<nb::ro>(a);
  auto storage =
      std::make_shared<Storage>(const_cast<void*>(a.data()), nbytes, device, [keep](void*) {
        if (!Py_IsInitialized()) return;
        nb::gil_scoped_acquire gil;
        delete keep;
      });
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), std::move(shape),
                                             std::move(strides), 0, dtype));
}

}  // namespace

Tensor array_to_tensor(nb::handle obj, const char* op) {
  nb::object array = nb::module_::import_("numpy").attr("asarray")(obj);
  nb::ndarray<nb::ro> view;
  KILN_CHECK_TYPE(nb::try_cast(array, view), op, ": cannot read ", python_type_name(obj),
                  " as an array");
  return from_array(view, op).clone();
}

void bind_numpy(nb::module_& m) {
  nb::class_<Tensor> cls = nb::borrow<nb::class_<Tensor>>(tensor_type());
  cls.def("numpy", &to_numpy, nb::kw_only(), "force"_a = false);
  cls.def(
      "__array__",
      [](const Tensor& t, nb::handle dtype) {
        nb::object a = to_numpy(t, false);
        return dtype.is_none() ? a : a.attr("astype")(dtype);
      },
      nb::arg("dtype").none() = nb::none());
  cls.def(
      "__dlpack__",
      [](const Tensor& t, nb::handle stream) {
        (void)stream;  // CPU tensors need no synchronisation; CUDA work is stream-ordered
        KILN_CHECK(!t.requires_grad(),
                   "__dlpack__: can't export a tensor that requires grad; use "
                   "tensor.detach() first");
        return export_view<nb::no_framework>(t);
      },
      nb::arg("stream").none() = nb::none());
  cls.def("__dlpack_device__", [](const Tensor& t) {
    return nb::make_tuple(t.device().is_cpu() ? 1 : 2, t.device().is_cpu() ? 0 : t.device().index);
  });

  m.def(
      "from_numpy",
      [](nb::handle array) {
        KILN_CHECK_TYPE(nb::hasattr(array, "__array_interface__") && nb::hasattr(array, "dtype"),
                        "from_numpy: expected a numpy.ndarray, got ", python_type_name(array));
        nb::ndarray<nb::ro> view;
        KILN_CHECK_TYPE(nb::try_cast(array, view), "from_numpy: unsupported array");
        Tensor t = from_array(view, "from_numpy");
        // Kiln tensors are always writable, and writing into read-only memory (a read-only
        // np.memmap) would crash the process: such arrays are copied, with a warning.
        if (!nb::cast<bool>(array.attr("flags").attr("writeable"))) {
          if (PyErr_WarnEx(PyExc_UserWarning,
                           "from_numpy: the array is read-only; Kiln tensors are writable, so "
                           "the tensor is a copy that does not share the array's memory",
                           1) != 0) {
            throw nb::python_error();
          }
          t = t.clone();
        }
        return t;
      },
      "ndarray"_a);
  m.def(
      "from_dlpack",
      [](nb::handle obj) {
        // A writable export is shared; memory exported read-only (bytes, a read-only array or
        // memmap) is copied, since Kiln tensors are writable and a write there could crash.
        nb::ndarray<> writable;
        if (nb::try_cast(obj, writable)) {
          return from_array(nb::ndarray<nb::ro>(writable), "from_dlpack");
        }
        nb::ndarray<nb::ro> view;
        if (nb::try_cast(obj, view)) return from_array(view, "from_dlpack").clone();
        // Let the producer say why it could not export (torch 1.13: "Bool type is not
        // supported by dlpack"); its exception propagates from this call.
        if (nb::hasattr(obj, "__dlpack__")) obj.attr("__dlpack__")();
        throw kiln::TypeError(detail::concat("from_dlpack: ", python_type_name(obj),
                                             " supports neither DLPack nor the buffer protocol"));
      },
      "ext_tensor"_a);
}

}  // namespace kiln::python
