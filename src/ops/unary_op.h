#pragma once
// The shared shape of a unary elementwise op: run the kernel, and record a backward formula
// d = deriv(x, y, g) written with Kiln ops (so it is differentiable again).
#include <functional>

#include "ops/op_common.h"

namespace kiln {

enum UnarySave : int { kSaveNothing = 0, kSaveInput = 1, kSaveOutput = 2 };

using UnaryDeriv = std::function<Tensor(const Tensor& x, const Tensor& y, const Tensor& g)>;

struct UnarySpec {
  OpId op;
  const char* node;  // "ExpBackward0"
  int save = kSaveNothing;
  bool floating = true;  // integer inputs are promoted to float32 first (like torch.exp)
  OpParams params = {};
};

Tensor unary_op(const UnarySpec& spec, const Tensor& x, UnaryDeriv deriv);

// g where `keep` is true, zero elsewhere.
Tensor mask_grad(const Tensor& keep, const Tensor& g);

}  // namespace kiln
