#pragma once
// The choice between an optimizer's fused step (Backend::sgd_step / adam_step: one kernel for
// all the parameters of a group) and its composite step (a few Kiln ops per parameter, the
// oracle), shared by SGD, Adam and AdamW.
//
// The group option "fused" holds SGDOptions::fused and friends as a number: NaN when unset
// (fused on CUDA, composite on the CPU), 0 (composite) or 1 (fused on any device). It is a
// number rather than a flag because it has three states; the state dict saves "nan", "0" or "1".
#include <optional>
#include <string>
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim::fused {

inline constexpr const char* kOption = "fused";

// The group option's value for an optional<bool>.
double option_value(std::optional<bool> fused);
// Throws kiln::ValueError naming the optimizer unless the option is NaN, 0 or 1.
void check_option(const std::string& optimizer, const GroupOptions& options);

// Whether the group's step may be fused: the option allows it on the params' device, and the
// params (those with a gradient), their gradients and the existing state tensors all share one
// device and one floating dtype, the params and the state are contiguous and each state tensor
// has its param's numel (state[i] lists param i's existing state; undefined entries are absent
// state). Gradients may be strided: the caller makes them contiguous.
bool eligible(const GroupOptions& options, const std::vector<Tensor>& params,
              const std::vector<Tensor>& grads, const std::vector<std::vector<Tensor>>& state);

// The gradients as the kernels take them: detached and contiguous.
std::vector<Tensor> contiguous_grads(const std::vector<Tensor>& grads);

// The fused kernels write through raw pointers; bump the version counters as an in-place op
// would, so that autograd still notices a parameter changed after it was saved.
void bump_versions(const std::vector<Tensor>& written);

}  // namespace kiln::optim::fused
