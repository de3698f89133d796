#pragma once
// batch_norm as a composite of Kiln ops (mean, rsqrt, broadcasting arithmetic): the oracle of the
// fused op (src/ops/batch_norm.h) in the tests. Same arguments, checks and semantics as
// nn::functional::batch_norm, which calls the fused op whenever it applies.
#include <optional>

#include "kiln/tensor.h"

namespace kiln::nn::functional::detail {

Tensor batch_norm_composite(const Tensor& input, const Tensor& running_mean,
                            const Tensor& running_var, const Tensor& weight, const Tensor& bias,
                            bool training, std::optional<double> momentum, double eps);

}  // namespace kiln::nn::functional::detail
