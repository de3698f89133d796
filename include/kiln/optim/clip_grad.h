#pragma once
// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_ (PyTorch 1.13).
// Parameters without a gradient are skipped; gradients are modified in place.
#include <vector>

#include "kiln/tensor.h"

namespace kiln::optim {

// Computes the norm of all gradients together, as if concatenated into one vector (norm_type
// p > 0, or INFINITY for the largest magnitude), and when it exceeds max_norm scales every
// gradient by max_norm / (total_norm + 1e-6). Returns the total norm (before clipping); 0 when
// no parameter has a gradient. With error_if_nonfinite, a NaN or infinite total norm throws
// kiln::Error instead of clipping.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace kiln::optim
