#pragma once
// Shared declarations of the kiln._C extension. One file per concept binds one part of the
// library; module.cpp calls them in order. Arguments follow PyTorch's names and defaults so the
// pure-Python package (python_bindings/kiln) can re-export most functions unchanged.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "casters.h"
#include "kiln/kiln.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace kiln::python {

void bind_errors(nb::module_& m);
void bind_dtype_device(nb::module_& m);
void bind_tensor(nb::module_& m);
void bind_tensor_operators(nb::class_<Tensor>& cls);
void bind_tensor_indexing(nb::class_<Tensor>& cls);
void bind_numpy(nb::module_& m);
void bind_autograd(nb::module_& m);           // autograd.cpp: grad mode, backward, grad
void bind_autograd_function(nb::module_& m);  // autograd_function.cpp: kiln.autograd.Function
void bind_nn(nb::module_& m);                 // nn_*.cpp: kiln._C._nn (functional, init)
void bind_optim(nb::module_& m);              // optim*.cpp: kiln._C._optim
void bind_io(nb::module_& m);                 // io.cpp: safetensors save/load
void bind_conv(nb::module_& m);               // conv.cpp: conv1d/2d/3d, conv_transpose, pools
void bind_pool(nb::module_& m);               // pool.cpp: 1-D, adaptive pooling, unpooling
void bind_datasets(nb::module_& m);           // datasets.cpp: MNIST files, synthetic digits
void bind_backends(nb::module_& m);           // backends.cpp: kiln.backends switches (TF32)
void bind_models(nb::module_& m);       // models.cpp: kiln._C._models (the C++ zoo, for tests)
void bind_distributed(nb::module_& m);  // distributed.cpp: kiln._C._distributed
void bind_cuda(nb::module_& m);         // cuda.cpp: kiln._C._cuda (kiln.cuda)
void bind_norm(nb::module_& m);         // norm.cpp: batch_norm, group_norm, instance_norm
void bind_resample(nb::module_& m);     // resample.cpp: pad, interpolate, pixel_shuffle, dropout2d

// A copy of a list or array-like (via numpy.asarray) as a tensor; `op` names the caller.
Tensor array_to_tensor(nb::handle obj, const char* op);

// An undefined tensor (an absent .grad, a missing bias) is None in Python.
inline nb::object tensor_or_none(const Tensor& t) { return t.defined() ? nb::cast(t) : nb::none(); }

// The name of an object's Python type, for error messages ("got str").
inline std::string python_type_name(nb::handle obj) {
  return nb::cast<std::string>(obj.type().attr("__name__"));
}

// The `kiln.Tensor` type object, for building a Tensor wrapper around an existing handle.
nb::handle tensor_type();

}  // namespace kiln::python
