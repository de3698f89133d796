// Fused optimizer steps (the CPU reference of cuda/kernels/optimizer.cu): one pass over each
// tensor's elements, reading the parameter, its gradient and its state once and writing them
// once. The arithmetic is in cpu/optimizer_step.h, shared with the CUDA kernels.
#include <cstdint>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/kernels.h"
#include "cpu/optimizer_step.h"

namespace kiln::cpu {
namespace {

// Below this many elements a tensor is updated by one thread: the update is a few dozen flops
// per element, so smaller tensors do not repay waking the OpenMP team.
constexpr int64_t kParallelGrain = int64_t(1) << 15;

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

template <class T>
void sgd_impl(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const std::vector<uint8_t>& first_step,
              const SgdStepArgs& args) {
  using A = acc_t<T>;
  const optim_step::SgdCoeffs<A> c = optim_step::sgd_coeffs<A>(args);
  for (size_t t = 0; t < params.size(); ++t) {
    const int64_t n = params[t].numel();
    T* p = ptr<T>(params[t]);
    const T* g = ptr<T>(grads[t]);
    T* buf = c.has_momentum ? ptr<T>(momentum_buffers[t]) : nullptr;
    const bool first = c.has_momentum && first_step[t] != 0;
#pragma omp parallel for if (n >= kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      A pi = A(p[i]);
      A bi = buf ? A(buf[i]) : A(0);
      optim_step::sgd_update<A>(pi, A(g[i]), bi, first, c);
      p[i] = T(pi);
      if (buf) buf[i] = T(bi);
    }
  }
}

template <class T>
void adam_impl(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
               const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<int64_t>& steps,
               const AdamStepArgs& args) {
  using A = acc_t<T>;
  const optim_step::AdamCoeffs<A> c = optim_step::adam_coeffs<A>(args);
  for (size_t t = 0; t < params.size(); ++t) {
    const int64_t n = params[t].numel();
    T* p = ptr<T>(params[t]);
    const T* g = ptr<T>(grads[t]);
    T* m = ptr<T>(exp_avgs[t]);
    T* v = ptr<T>(exp_avg_sqs[t]);
    T* vmax = c.amsgrad ? ptr<T>(max_exp_avg_sqs[t]) : nullptr;
    const optim_step::AdamStepFactors f = optim_step::adam_step_factors(args, steps[t]);
    const A neg_step_size = A(f.neg_step_size);
    const A bias_correction2_sqrt = A(f.bias_correction2_sqrt);
#pragma omp parallel for if (n >= kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      A pi = A(p[i]), mi = A(m[i]), vi = A(v[i]);
      A vmaxi = vmax ? A(vmax[i]) : A(0);
      optim_step::adam_update<A>(pi, A(g[i]), mi, vi, vmaxi, c, neg_step_size,
                                 bias_correction2_sqrt);
      p[i] = T(pi);
      m[i] = T(mi);
      v[i] = T(vi);
      if (vmax) vmax[i] = T(vmaxi);
    }
  }
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const std::vector<uint8_t>& first_step,
              const SgdStepArgs& args) {
  optim_step::check_sgd_step(params, grads, momentum_buffers, first_step, args, DeviceType::CPU);
  if (params.empty()) return;
  dispatch_floating(params[0].dtype(), "sgd_step", [&]<class T>() {
    sgd_impl<T>(params, grads, momentum_buffers, first_step, args);
  });
}

void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
               const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<int64_t>& steps,
               const AdamStepArgs& args) {
  optim_step::check_adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, args,
                              DeviceType::CPU);
  if (params.empty()) return;
  dispatch_floating(params[0].dtype(), "adam_step", [&]<class T>() {
    adam_impl<T>(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, args);
  });
}

}  // namespace kiln::cpu
