// The CUDA backend: every kernel family of the Backend interface, forwarded to the launchers in
// cuda/kernels/, cuda/blas/ (cuBLASLt) and cuda/cudnn/ (convolution, batch norm). It supports every
// op with a kernel; there is no silent fallback to the CPU anywhere (a missing dtype raises "<op>:
// not implemented for <dtype> on CUDA").
#include "backend/backend.h"
#include "cudnn/batch_norm.h"
#include "cudnn/conv.h"
#include "kernels/copy.h"
#include "kernels/kernels.h"
#include "runtime/allocator.h"
#include "runtime/device.h"

namespace kiln {

Backend* make_cuda_backend();

namespace {

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "CUDA"; }

  bool supports(OpId) const override { return true; }

  std::shared_ptr<Storage> allocate(size_t nbytes, Device device) override {
    KILN_CHECK(device.is_cuda(), "allocate: the CUDA backend cannot allocate on ", device.str());
    KILN_CHECK(cuda::device_count() > 0, "allocate: no CUDA device available for ", device.str());
    return cuda::allocate_storage(nbytes, device.index);
  }

  void copy(const Tensor& src, const Tensor& dst) override { cuda::copy(src, dst); }
  void copy_non_blocking(const Tensor& src, const Tensor& dst) override {
    cuda::copy_non_blocking(src, dst);
  }
  void fill(const Tensor& dst, Scalar v) override { cuda::fill(dst, v); }
  void arange(const Tensor& out, double start, double step) override {
    cuda::arange(out, start, step);
  }
  void unary(OpId op, const Tensor& x, const Tensor& out, const OpParams& p) override {
    cuda::unary(op, x, out, p);
  }
  void binary(OpId op, const Tensor& a, const Tensor& b, const Tensor& out) override {
    cuda::binary(op, a, b, out);
  }
  void where(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out) override {
    cuda::where(c, a, b, out);
  }
  void reduce(OpId op, const Tensor& x, const std::vector<int64_t>& dims,
              const Tensor& out) override {
    cuda::reduce(op, x, dims, out);
  }
  void arg_reduce(OpId op, const Tensor& x, int64_t dim, const Tensor& values,
                  const Tensor& indices) override {
    cuda::arg_reduce(op, x, dim, values, indices);
  }
  void softmax(OpId op, const Tensor& x, int64_t dim, const Tensor& out) override {
    cuda::softmax(op, x, dim, out);
  }
  void bmm(const Tensor& a, const Tensor& b, const Tensor& out) override { cuda::bmm(a, b, out); }
  void conv_forward(const Tensor& x, const Tensor& w, const ConvGeometry& g,
                    const Tensor& y) override {
    cuda::conv_forward(x, w, g, y);
  }
  void conv_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g,
                          const Tensor& dx) override {
    cuda::conv_backward_data(dy, w, g, dx);
  }
  void conv_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g,
                            const Tensor& dw) override {
    cuda::conv_backward_weight(x, dy, g, dw);
  }
  void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                          const Tensor& running_mean, const Tensor& running_var,
                          const BatchNormArgs& args, const Tensor& y, const Tensor& save_mean,
                          const Tensor& save_invstd) override {
    cuda::batch_norm_forward(x, weight, bias, running_mean, running_var, args, y, save_mean,
                             save_invstd);
  }
  void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& weight,
                           const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                           const Tensor& dweight, const Tensor& dbias) override {
    cuda::batch_norm_backward(x, dy, weight, save_mean, save_invstd, dx, dweight, dbias);
  }
  void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override {
    cuda::index_select(x, dim, index, out);
  }
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
                 double alpha) override {
    cuda::index_add(out, dim, index, src, alpha);
  }
  void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override {
    cuda::gather(x, dim, index, out);
  }
  void scatter(OpId op, const Tensor& out, int64_t dim, const Tensor& index,
               const Tensor& src) override {
    cuda::scatter(op, out, dim, index, src);
  }
  void random(OpId op, const Tensor& out, uint64_t seed, uint64_t offset, const OpParams& p,
              const Tensor& probs) override {
    cuda::random(op, out, seed, offset, p, probs);
  }
  void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act,
              const Tensor& out) override {
    cuda::linear(x, weight, bias, act, out);
  }
  void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& momentum_buffers, const std::vector<uint8_t>& first_step,
                const SgdStepArgs& args) override {
    cuda::sgd_step(params, grads, momentum_buffers, first_step, args);
  }
  void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                 const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                 const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<int64_t>& steps,
                 const AdamStepArgs& args) override {
    cuda::adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, args);
  }
  void norm_of_tensors(const std::vector<Tensor>& xs, double p, const Tensor& out) override {
    cuda::norm_of_tensors(xs, p, out);
  }
};

}  // namespace

Backend* make_cuda_backend() {
  static CudaBackend backend;
  return &backend;
}

}  // namespace kiln
