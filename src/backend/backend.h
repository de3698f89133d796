#pragma once
// The seam between ops and devices. An op (src/ops) checks its arguments, infers the output
// shape/dtype, allocates the output and calls one kernel family of the Backend of the inputs'
// device. The CPU backend (src/cpu) is the reference; the CUDA backend (cuda/) implements the
// same interface. Kernels receive inputs already broadcast to the output shape (stride-0 views)
// and cast to the compute dtype, so they only deal with strides.
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/storage.h"
#include "kiln/scalar.h"
#include "kiln/tensor.h"
#include "ops/op_registry.h"

namespace kiln {

// Op parameters that are not tensors (slopes, clamp bounds, approximation modes).
struct OpParams {
  double a = 0, b = 0;
  bool has_a = false, has_b = false;
  int mode = 0;  // gelu: 0 exact, 1 tanh
};

// Epilogue of a fused linear (cuBLASLt applies it in the matrix product's own kernel).
enum class Activation : uint8_t { None, Relu, Gelu };

// Hyper-parameters of a fused optimizer step; the meaning is torch.optim's.
struct SgdStepArgs {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
struct AdamStepArgs {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  bool decoupled_weight_decay = false;  // AdamW
  bool amsgrad = false;
};

// Geometry of a convolution over `spatial` (1, 2 or 3) dims: x [N, C, I...], w [OC, C / groups,
// K...], y [N, OC, O...] with O = (I + 2 * padding - dilation * (K - 1) - 1) / stride + 1.
// Padding is symmetric; the op pads asymmetric cases ('same' with an even kernel) beforehand.
struct ConvGeometry {
  int spatial = 2;
  std::array<int64_t, 3> stride{1, 1, 1}, padding{0, 0, 0}, dilation{1, 1, 1};
  int64_t groups = 1;
};

// Batch normalisation hyper-parameters; the meaning is torch.nn.functional.batch_norm's.
struct BatchNormArgs {
  bool training = true;
  double momentum = 0.1;  // running = (1 - momentum) * running + momentum * batch statistic
  double eps = 1e-5;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;  // "CPU", "CUDA"
  virtual bool supports(OpId op) const = 0;

  // memory
  virtual std::shared_ptr<Storage> allocate(size_t nbytes, Device device) = 0;
  // dst = src elementwise, any strides, converting dtype. One of them may be on another device
  // (host <-> device copies are done by the non-CPU backend).
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;
  // As copy, but a host <-> device transfer from or to pinned host memory may return before it
  // ends (the backend keeps both buffers alive until it does); reading a host destination needs
  // a synchronisation first, as with torch's non_blocking=True. Other copies are plain copies.
  virtual void copy_non_blocking(const Tensor& src, const Tensor& dst) { copy(src, dst); }
  virtual void fill(const Tensor& dst, Scalar value) = 0;
  virtual void arange(const Tensor& out, double start, double step) = 0;

  // elementwise; every tensor has out's shape; a/b/x have the compute dtype
  virtual void unary(OpId op, const Tensor& x, const Tensor& out, const OpParams& p) = 0;
  virtual void binary(OpId op, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) = 0;

  // reductions over `dims` (sorted, unique, non-empty); out has x's shape with dims of size 1
  virtual void reduce(OpId op, const Tensor& x, const std::vector<int64_t>& dims,
                      const Tensor& out) = 0;
  // max/min along `dim` with int64 indices (first occurrence); outputs keep dim with size 1
  virtual void arg_reduce(OpId op, const Tensor& x, int64_t dim, const Tensor& values,
                          const Tensor& indices) = 0;
  virtual void softmax(OpId op, const Tensor& x, int64_t dim, const Tensor& out) = 0;
  // out[b] = a[b] @ b[b]; a [B, M, K], b [B, K, N], out [B, M, N] (out contiguous)
  virtual void bmm(const Tensor& a, const Tensor& b, const Tensor& out) = 0;

  // Convolution (ConvForward / ConvBackwardData / ConvBackwardWeight). The op checks shapes and
  // allocates the result, in the input's memory format (channels-last inputs give channels-last
  // results); x, w and dy may have any strides, and the kernel writes every element of its
  // result. All tensors share one floating dtype. No bias: the op adds it.
  //   forward:         y  [N, OC, O...] = conv(x, w)
  //   backward_data:   dx [N, C, I...]  = the transposed convolution of dy with w (dx's shape
  //                    carries I, which the forward's O does not determine when stride > 1)
  //   backward_weight: dw [OC, C / groups, K...] = the correlation of x with dy
  virtual void conv_forward(const Tensor& x, const Tensor& w, const ConvGeometry& g,
                            const Tensor& y);
  virtual void conv_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g,
                                  const Tensor& dx);
  virtual void conv_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g,
                                    const Tensor& dw);

  // Batch normalisation of x [N, C, *] over every dim but C. weight/bias [C] or undefined (1 and
  // 0). Training: normalise with the batch statistics, write them to save_mean/save_invstd [C]
  // (invstd = 1 / sqrt(biased var + eps)) and, when running_mean/var are defined, update them in
  // place with momentum and the unbiased variance. Eval: normalise with the running statistics
  // (save_mean/save_invstd are then left alone). save_* and running_* are float32 for
  // bf16/f16 inputs, else of x's dtype; y has x's shape and strides.
  virtual void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  const Tensor& running_mean, const Tensor& running_var,
                                  const BatchNormArgs& args, const Tensor& y,
                                  const Tensor& save_mean, const Tensor& save_invstd);
  // The training-mode gradient: dx (x's shape), and dweight/dbias [C] when defined.
  virtual void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& weight,
                                   const Tensor& save_mean, const Tensor& save_invstd,
                                   const Tensor& dx, const Tensor& dweight, const Tensor& dbias);

  // indexing; index tensors are int64 and already bounds-checked by the op
  virtual void index_select(const Tensor& x, int64_t dim, const Tensor& index,
                            const Tensor& out) = 0;
  // out.index_select(dim, index) += alpha * src, accumulating over repeated indices
  virtual void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
                         double alpha) = 0;
  virtual void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) = 0;
  // In place into out: Scatter writes src, ScatterAdd accumulates it.
  virtual void scatter(OpId op, const Tensor& out, int64_t dim, const Tensor& index,
                       const Tensor& src) = 0;

  // Uniform [0,1) / Normal(0,1) / RandInt [a, b) / Bernoulli(p = x) into out (contiguous),
  // element i drawn from Philox at (seed, offset, i); see src/core/philox.h.
  virtual void random(OpId op, const Tensor& out, uint64_t seed, uint64_t offset, const OpParams& p,
                      const Tensor& probs = Tensor()) = 0;

  // out = act(x @ weight^T + bias): x [M, K], weight [N, K], bias [N] or undefined, out [M, N]
  // contiguous; all of one floating dtype. The linear op calls it when it can use the fusion.
  virtual void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act,
                      const Tensor& out) = 0;

  // Fused optimizer steps over all tensors of a group (one launch on CUDA). Every tensor is
  // contiguous, of one floating dtype and on this backend's device; params and state are
  // updated in place. The composite formulas in src/optim are the test oracle.
  //   sgd: momentum_buffers is empty when momentum == 0; a buffer whose first_step flag is set
  //        is initialised to the (weight-decayed) gradient, as torch's first step does.
  virtual void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                        const std::vector<Tensor>& momentum_buffers,
                        const std::vector<uint8_t>& first_step, const SgdStepArgs& args) = 0;
  //   adam: steps[i] is tensor i's step count including this step (>= 1); max_exp_avg_sqs is
  //         empty unless amsgrad.
  virtual void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                         const std::vector<Tensor>& exp_avgs,
                         const std::vector<Tensor>& exp_avg_sqs,
                         const std::vector<Tensor>& max_exp_avg_sqs,
                         const std::vector<int64_t>& steps, const AdamStepArgs& args) = 0;
  // out (a 1-element float64 tensor on this device) = sum over all xs of |x|^p, or max |x| when
  // p is +inf (NaN propagates). For clip_grad_norm_: one launch and one sync for all gradients.
  virtual void norm_of_tensors(const std::vector<Tensor>& xs, double p, const Tensor& out) = 0;
};

// Backend::linear's shape contract (2-D x [M, K], weight [N, K], bias [N] or none, contiguous
// out [M, N]), checked by every backend's kernel.
void check_linear_contract(const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const Tensor& out);

// The backend of a device; throws when the build or the machine has none.
Backend& backend(Device device);
// The backend that runs `op` on `device`; throws "<op>: no CUDA kernel" when it lacks the kernel.
Backend& backend_for(OpId op, Device device);
// Whether `op` has a kernel on `device`'s backend (false when there is no such backend).
bool supports(OpId op, Device device);
void register_backend(DeviceType type, Backend* backend);

}  // namespace kiln
