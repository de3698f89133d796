#pragma once
// Helpers shared by the op definitions: argument checks with clear messages, dtype promotion,
// output allocation and the elementwise kernel calls.
#include <initializer_list>
#include <string>

#include "autograd/function_node.h"
#include "backend/backend.h"
#include "core/tensor_impl.h"
#include "kiln/autograd.h"
#include "kiln/ops.h"

namespace kiln {

// A number as a 0-d tensor that promotes like a Python number (`x_f16 * 2.5` stays float16).
Tensor wrapped_scalar(Scalar value, Device device = Device::cpu());
bool is_wrapped_scalar(const Tensor& t);

// The result dtype of an op on these operands under PyTorch's rules: dimensioned tensors decide
// within a category (bool < integer < floating); 0-d tensors and numbers only lift the category.
DType result_type(std::initializer_list<const Tensor*> operands);

void check_defined(const char* op, std::initializer_list<const Tensor*> ts);
void check_same_device(const char* op, std::initializer_list<const Tensor*> ts);
void check_floating(const char* op, const Tensor& t);
std::string describe(const Tensor& t);  // "[2, 3] float32 on cpu"

// The float dtype an op computes in for this input (integers and bool become float32).
inline DType floating_compute_type(DType t) { return is_floating(t) ? t : kDefaultFloat; }

// A view of `t` broadcast to `shape` (stride 0 on expanded dims), without autograd.
Tensor broadcast_view(const Tensor& t, const Shape& shape);
// `t` in `dtype` (no copy when it already is), without autograd.
Tensor cast_raw(const Tensor& t, DType dtype);

// Runs the unary kernel `op` on x (cast to `compute`) into a new tensor of `out_dtype`.
Tensor unary_raw(OpId op, const Tensor& x, DType compute, DType out_dtype, const OpParams& p = {});
// Runs the binary kernel `op` on a and b (broadcast, cast to `compute`) into `out_dtype`.
Tensor binary_raw(OpId op, const Tensor& a, const Tensor& b, DType compute, DType out_dtype);

// Whether any element of a (bool) tensor is true; reads the data on the host.
bool any_true(const Tensor& mask);

// Writes `value` into `self` in place, recording history like PyTorch's in-place ops:
// `value` was computed out of place from a clone of `self`, so its graph is self's new graph.
Tensor& assign_inplace(Tensor& self, const Tensor& value, const char* op);

}  // namespace kiln
