// The CPU backend: plain C++ reference kernels. It supports every op with a kernel.
#include "cpu/host_cache.h"
#include "cpu/kernels.h"

namespace kiln {
namespace {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "CPU"; }
  bool supports(OpId) const override { return true; }

  std::shared_ptr<Storage> allocate(size_t nbytes, Device device) override {
    // 64-byte aligned, large blocks reused (cpu/host_cache.h).
    void* p = cpu::host_alloc(nbytes);
    return std::make_shared<Storage>(p, nbytes, device,
                                     [nbytes](void* q) { cpu::host_free(q, nbytes); });
  }
  void copy(const Tensor& src, const Tensor& dst) override { cpu::copy(src, dst); }
  void fill(const Tensor& dst, Scalar v) override { cpu::fill(dst, v); }
  void arange(const Tensor& out, double start, double step) override {
    cpu::arange(out, start, step);
  }
  void unary(OpId op, const Tensor& x, const Tensor& out, const OpParams& p) override {
    cpu::unary(op, x, out, p);
  }
  void binary(OpId op, const Tensor& a, const Tensor& b, const Tensor& out) override {
    cpu::binary(op, a, b, out);
  }
  void where(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out) override {
    cpu::where(c, a, b, out);
  }
  void reduce(OpId op, const Tensor& x, const std::vector<int64_t>& dims,
              const Tensor& out) override {
    cpu::reduce(op, x, dims, out);
  }
  void arg_reduce(OpId op, const Tensor& x, int64_t dim, const Tensor& values,
                  const Tensor& indices) override {
    cpu::arg_reduce(op, x, dim, values, indices);
  }
  void softmax(OpId op, const Tensor& x, int64_t dim, const Tensor& out) override {
    cpu::softmax(op, x, dim, out);
  }
  void bmm(const Tensor& a, const Tensor& b, const Tensor& out) override { cpu::bmm(a, b, out); }
  void conv_forward(const Tensor& x, const Tensor& w, const ConvGeometry& g,
                    const Tensor& y) override {
    cpu::conv_forward(x, w, g, y);
  }
  void conv_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g,
                          const Tensor& dx) override {
    cpu::conv_backward_data(dy, w, g, dx);
  }
  void conv_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g,
                            const Tensor& dw) override {
    cpu::conv_backward_weight(x, dy, g, dw);
  }
  void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override {
    cpu::index_select(x, dim, index, out);
  }
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
                 double alpha) override {
    cpu::index_add(out, dim, index, src, alpha);
  }
  void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override {
    cpu::gather(x, dim, index, out);
  }
  void scatter(OpId op, const Tensor& out, int64_t dim, const Tensor& index,
               const Tensor& src) override {
    cpu::scatter(op, out, dim, index, src);
  }
  void random(OpId op, const Tensor& out, uint64_t seed, uint64_t offset, const OpParams& p,
              const Tensor& probs) override {
    cpu::random(op, out, seed, offset, p, probs);
  }
  void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act,
              const Tensor& out) override {
    cpu::linear(x, weight, bias, act, out);
  }
  void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& momentum_buffers, const std::vector<uint8_t>& first_step,
                const SgdStepArgs& args) override {
    cpu::sgd_step(params, grads, momentum_buffers, first_step, args);
  }
  void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                 const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                 const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<int64_t>& steps,
                 const AdamStepArgs& args) override {
    cpu::adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, args);
  }
  void norm_of_tensors(const std::vector<Tensor>& xs, double p, const Tensor& out) override {
    cpu::norm_of_tensors(xs, p, out);
  }
  void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                          const Tensor& running_mean, const Tensor& running_var,
                          const BatchNormArgs& args, const Tensor& y, const Tensor& save_mean,
                          const Tensor& save_invstd) override {
    cpu::batch_norm_forward(x, weight, bias, running_mean, running_var, args, y, save_mean,
                            save_invstd);
  }
  void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& weight,
                           const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                           const Tensor& dweight, const Tensor& dbias) override {
    cpu::batch_norm_backward(x, dy, weight, save_mean, save_invstd, dx, dweight, dbias);
  }
};

}  // namespace

Backend* make_cpu_backend() {
  static CpuBackend backend;
  return &backend;
}

}  // namespace kiln
