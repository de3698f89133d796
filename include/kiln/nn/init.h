#pragma once
// kiln::nn::init: in-place initialisation of parameters, as torch.nn.init. Every function writes
// into the given tensor under NoGradGuard (so it works on leaves that require grad), draws from
// the default Philox generator (kiln::rand / kiln::randn, reproducible with manual_seed) and
// returns the same handle.
#include <optional>
#include <string>
#include <utility>

#include "kiln/tensor.h"

namespace kiln::nn::init {

// The recommended gain for a nonlinearity: linear, conv1d/2d/3d, conv_transpose1d/2d/3d and
// sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + slope²)) with `param` the slope
// (0.01 when absent), selu 3/4. Throws kiln::ValueError for another name.
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt);

// (fan_in, fan_out) of a weight of at least 2 dimensions: fan_in = size(1) × receptive field,
// fan_out = size(0) × receptive field, the receptive field being the product of dims 2.. (a
// Linear weight [out, in] has fan_in = in; a Conv2d weight [out, in, kh, kw] in·kh·kw).
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

Tensor uniform_(Tensor t, double a = 0.0, double b = 1.0);
Tensor normal_(Tensor t, double mean = 0.0, double std = 1.0);
Tensor constant_(Tensor t, double value);
Tensor zeros_(Tensor t);
Tensor ones_(Tensor t);

// Glorot: U(-a, a) with a = gain·sqrt(6 / (fan_in + fan_out)); N(0, gain²·2 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor t, double gain = 1.0);
Tensor xavier_normal_(Tensor t, double gain = 1.0);

// He: std = gain / sqrt(fan) with gain = calculate_gain(nonlinearity, a) and fan chosen by mode
// ("fan_in" keeps the forward variance, "fan_out" the backward one); uniform bound sqrt(3)·std.
Tensor kaiming_uniform_(Tensor t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu");
Tensor kaiming_normal_(Tensor t, double a = 0.0, const std::string& mode = "fan_in",
                       const std::string& nonlinearity = "leaky_relu");

// A (semi-)orthogonal matrix (Saxe et al. 2013) from the QR decomposition of a Gaussian matrix,
// computed in double on the CPU, signs fixed so that R has a positive diagonal; tensors of more
// than 2 dimensions are treated as [size(0), numel / size(0)]. Scaled by `gain`.
Tensor orthogonal_(Tensor t, double gain = 1.0);

}  // namespace kiln::nn::init
