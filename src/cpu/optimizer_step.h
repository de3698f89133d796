#pragma once
// The per-element arithmetic of the fused optimizer steps, shared by the CPU reference
// (src/cpu/optimizer.cpp) and the CUDA kernels (cuda/kernels/optimizer.cu), plus the checks of
// the Backend contract (src/backend/backend.h) that both run first.
//
// The operations and their order are those of the composite updates in src/optim/sgd.cpp and
// adam.cpp, so that for float32 and float64 a fused step rounds exactly where the composite
// rounds: every hyper-parameter is converted to the arithmetic type A first (as the composite's
// wrapped scalars are), and each product and sum is rounded on its own. On the device the
// products and sums are written with the _rn intrinsics so that nvcc cannot contract them into
// fused multiply-adds, which would round differently from the CPU. For float16/bfloat16 the
// whole update runs in float and rounds once per stored value (torch's fused optimizers do the
// same), so there it is more accurate than the composite, which rounds after every operation.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"

#if defined(__CUDACC__)
#define KILN_OPTIM_HD __host__ __device__ __forceinline__
#else
#define KILN_OPTIM_HD inline
#endif

namespace kiln::optim_step {

// a * b, a + b, a / b and sqrt(a), each correctly rounded and never contracted.
template <class A>
KILN_OPTIM_HD A mul(A a, A b) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(A) == 4)
    return __fmul_rn(a, b);
  else
    return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

template <class A>
KILN_OPTIM_HD A add(A a, A b) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(A) == 4)
    return __fadd_rn(a, b);
  else
    return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

template <class A>
KILN_OPTIM_HD A div(A a, A b) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(A) == 4)
    return __fdiv_rn(a, b);
  else
    return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}

template <class A>
KILN_OPTIM_HD A sqrt_rn(A a) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(A) == 4)
    return __fsqrt_rn(a);
  else
    return __dsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

// maximum() of the CPU binary kernels: a NaN in either operand propagates.
template <class A>
KILN_OPTIM_HD A maximum(A x, A y) {
  if (x != x || y != y) return add(x, y);
  return x > y ? x : y;
}

// SGD's hyper-parameters in the arithmetic type, and which optional terms apply (decided on the
// double values, as the composite does: a weight decay that underflows in float still runs).
template <class A>
struct SgdCoeffs {
  A weight_decay, momentum, one_minus_dampening, neg_lr;
  bool has_weight_decay, has_momentum, nesterov;
};

template <class A>
SgdCoeffs<A> sgd_coeffs(const SgdStepArgs& a) {
  return {A(a.weight_decay),   A(a.momentum),   A(1 - a.dampening), A(-a.lr),
          a.weight_decay != 0, a.momentum != 0, a.nesterov};
}

// One element of SGD. `buf` is the momentum buffer (untouched without momentum); `first` says
// that it holds nothing yet and takes the (weight-decayed) gradient.
template <class A>
KILN_OPTIM_HD void sgd_update(A& p, A g, A& buf, bool first, const SgdCoeffs<A>& c) {
  A d = g;
  if (c.has_weight_decay) d = add(d, mul(p, c.weight_decay));
  if (c.has_momentum) {
    buf = first ? d : add(mul(buf, c.momentum), mul(d, c.one_minus_dampening));
    d = c.nesterov ? add(d, mul(buf, c.momentum)) : buf;
  }
  p = add(p, mul(d, c.neg_lr));
}

// Adam's hyper-parameters in the arithmetic type; the step-dependent ones are per tensor.
template <class A>
struct AdamCoeffs {
  A weight_decay, decay;  // decay = 1 - lr * weight_decay (AdamW)
  A beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  bool has_weight_decay, decoupled, amsgrad;
};

template <class A>
AdamCoeffs<A> adam_coeffs(const AdamStepArgs& a) {
  return {A(a.weight_decay),
          A(1 - a.lr * a.weight_decay),
          A(a.beta1),
          A(1 - a.beta1),
          A(a.beta2),
          A(1 - a.beta2),
          A(a.eps),
          a.weight_decay != 0,
          a.decoupled_weight_decay,
          a.amsgrad};
}

// The step-dependent factors of one tensor, computed in double as the composite does:
// -lr / (1 - beta1^step) and sqrt(1 - beta2^step).
struct AdamStepFactors {
  double neg_step_size, bias_correction2_sqrt;
};

inline AdamStepFactors adam_step_factors(const AdamStepArgs& a, int64_t step) {
  const double s = double(step);
  const double bias_correction1 = 1 - std::pow(a.beta1, s);
  const double bias_correction2 = 1 - std::pow(a.beta2, s);
  return {-(a.lr / bias_correction1), std::sqrt(bias_correction2)};
}

// One element of Adam/AdamW. `vmax` is the AMSGrad maximum (untouched without amsgrad).
template <class A>
KILN_OPTIM_HD void adam_update(A& p, A g, A& m, A& v, A& vmax, const AdamCoeffs<A>& c,
                               A neg_step_size, A bias_correction2_sqrt) {
  if (c.decoupled) {
    if (c.has_weight_decay) p = mul(p, c.decay);
  } else if (c.has_weight_decay) {
    g = add(g, mul(p, c.weight_decay));
  }
  m = add(mul(m, c.beta1), mul(g, c.one_minus_beta1));
  v = add(mul(v, c.beta2), mul(mul(g, g), c.one_minus_beta2));
  A second = v;
  if (c.amsgrad) {
    vmax = maximum(vmax, v);
    second = vmax;
  }
  const A denom = add(div(sqrt_rn(second), bias_correction2_sqrt), c.eps);
  p = add(p, mul(div(m, denom), neg_step_size));
}

// ---- the contract of Backend::sgd_step / adam_step (host only) ----

namespace detail {

inline std::string describe_tensor(const Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  std::string s = "[";
  for (size_t i = 0; i < t.shape().size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape()[i]);
  return s + "] " + dtype_name(t.dtype()) + " on " + t.device().str();
}

// Every tensor of `list` (named `what`) is defined, contiguous, of the params' dtype and device,
// with the numel of the param at the same position.
inline void check_list(const char* op, const char* what, const std::vector<Tensor>& list,
                       const std::vector<Tensor>& params, DType dtype, Device device) {
  KILN_CHECK_VALUE(list.size() == params.size(), op, ": got ", params.size(), " params but ",
                   list.size(), " ", what);
  for (size_t i = 0; i < list.size(); ++i) {
    const Tensor& t = list[i];
    KILN_CHECK_VALUE(t.defined(), op, ": ", what, "[", i, "] is undefined");
    KILN_CHECK_TYPE(t.dtype() == dtype && t.device() == device, op, ": ", what, "[", i, "] is ",
                    describe_tensor(t), ", expected ", dtype_name(dtype), " on ", device.str(),
                    " like params[0]");
    KILN_CHECK_VALUE(t.numel() == params[i].numel(), op, ": ", what, "[", i, "] is ",
                     describe_tensor(t), " but params[", i, "] is ", describe_tensor(params[i]));
    KILN_CHECK_VALUE(t.is_contiguous(), op, ": ", what, "[", i, "] (", describe_tensor(t),
                     ") is not contiguous");
  }
}

inline void check_params(const char* op, const std::vector<Tensor>& params,
                         DeviceType device_type) {
  KILN_CHECK_VALUE(params[0].defined(), op, ": params[0] is undefined");
  const DType dtype = params[0].dtype();
  const Device device = params[0].device();
  KILN_CHECK_TYPE(is_floating(dtype), op, ": expected floating parameters, got ",
                  describe_tensor(params[0]));
  KILN_CHECK_VALUE(device.type == device_type, op, ": params[0] is ", describe_tensor(params[0]),
                   ", not on this backend's device type");
  check_list(op, "params", params, params, dtype, device);
}

}  // namespace detail

// Throws kiln::Error naming "sgd_step" when the lists break the contract. Empty lists are fine.
inline void check_sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                           const std::vector<Tensor>& momentum_buffers,
                           const std::vector<uint8_t>& first_step, const SgdStepArgs& args,
                           DeviceType device_type) {
  const char* op = "sgd_step";
  const bool momentum = args.momentum != 0;
  KILN_CHECK_VALUE(momentum || momentum_buffers.empty(), op,
                   ": momentum_buffers must be empty when momentum is 0, got ",
                   momentum_buffers.size());
  if (params.empty()) {
    KILN_CHECK_VALUE(grads.empty() && momentum_buffers.empty(), op,
                     ": got no params but some grads or momentum buffers");
    return;
  }
  detail::check_params(op, params, device_type);
  const DType dtype = params[0].dtype();
  const Device device = params[0].device();
  detail::check_list(op, "grads", grads, params, dtype, device);
  if (momentum) {
    detail::check_list(op, "momentum_buffers", momentum_buffers, params, dtype, device);
    KILN_CHECK_VALUE(first_step.size() == params.size(), op, ": got ", params.size(),
                     " params but ", first_step.size(), " first_step flags");
  }
}

// Throws kiln::Error naming "adam_step" when the lists break the contract. Empty lists are fine.
inline void check_adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                            const std::vector<Tensor>& exp_avgs,
                            const std::vector<Tensor>& exp_avg_sqs,
                            const std::vector<Tensor>& max_exp_avg_sqs,
                            const std::vector<int64_t>& steps, const AdamStepArgs& args,
                            DeviceType device_type) {
  const char* op = "adam_step";
  KILN_CHECK_VALUE(args.amsgrad || max_exp_avg_sqs.empty(), op,
                   ": max_exp_avg_sqs must be empty without amsgrad, got ", max_exp_avg_sqs.size());
  if (params.empty()) {
    KILN_CHECK_VALUE(grads.empty() && exp_avgs.empty() && exp_avg_sqs.empty() &&
                         max_exp_avg_sqs.empty() && steps.empty(),
                     op, ": got no params but some grads, state or steps");
    return;
  }
  detail::check_params(op, params, device_type);
  const DType dtype = params[0].dtype();
  const Device device = params[0].device();
  detail::check_list(op, "grads", grads, params, dtype, device);
  detail::check_list(op, "exp_avgs", exp_avgs, params, dtype, device);
  detail::check_list(op, "exp_avg_sqs", exp_avg_sqs, params, dtype, device);
  if (args.amsgrad)
    detail::check_list(op, "max_exp_avg_sqs", max_exp_avg_sqs, params, dtype, device);
  KILN_CHECK_VALUE(steps.size() == params.size(), op, ": got ", params.size(), " params but ",
                   steps.size(), " step counts");
  for (size_t i = 0; i < steps.size(); ++i)
    KILN_CHECK_VALUE(steps[i] >= 1, op, ": steps[", i, "] is ", steps[i],
                     " (the step count including this step must be >= 1)");
}

}  // namespace kiln::optim_step
