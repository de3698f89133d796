#include "backend/backend.h"

#include <array>

namespace kiln {

Backend* make_cpu_backend();
#ifdef KILN_WITH_CUDA
Backend* make_cuda_backend();
#endif

namespace {
struct Registry {
  std::array<Backend*, 2> backends{};
  Registry() {
    backends[size_t(DeviceType::CPU)] = make_cpu_backend();
#ifdef KILN_WITH_CUDA
    backends[size_t(DeviceType::CUDA)] = make_cuda_backend();
#endif
  }
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

void check_linear_contract(const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const Tensor& out) {
  KILN_CHECK(
      x.dim() == 2 && weight.dim() == 2 && out.dim() == 2 && (!bias.defined() || bias.dim() == 1),
      "linear: expected x [M, K], weight [N, K], bias [N] and out [M, N], got ",
      shape_str(x.shape()), ", ", shape_str(weight.shape()), ", ",
      bias.defined() ? shape_str(bias.shape()) : std::string("no bias"), " and ",
      shape_str(out.shape()));
  const int64_t m = x.size(0), k = x.size(1), n = weight.size(0);
  KILN_CHECK(weight.size(1) == k && out.size(0) == m && out.size(1) == n &&
                 (!bias.defined() || bias.size(0) == n),
             "linear: mismatched shapes x ", shape_str(x.shape()), ", weight ",
             shape_str(weight.shape()), ", out ", shape_str(out.shape()));
  KILN_CHECK(out.is_contiguous(), "linear: the output must be contiguous");
}

// A backend without these kernels says so by name rather than silently falling back.
void Backend::conv_forward(const Tensor&, const Tensor&, const ConvGeometry&, const Tensor&) {
  KILN_CHECK(false, "convolution: no ", name(), " kernel");
}
void Backend::conv_backward_data(const Tensor&, const Tensor&, const ConvGeometry&, const Tensor&) {
  KILN_CHECK(false, "convolution_backward_input: no ", name(), " kernel");
}
void Backend::conv_backward_weight(const Tensor&, const Tensor&, const ConvGeometry&,
                                   const Tensor&) {
  KILN_CHECK(false, "convolution_backward_weight: no ", name(), " kernel");
}
void Backend::batch_norm_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                 const Tensor&, const BatchNormArgs&, const Tensor&, const Tensor&,
                                 const Tensor&) {
  KILN_CHECK(false, "batch_norm: no ", name(), " kernel");
}
void Backend::batch_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  KILN_CHECK(false, "batch_norm_backward: no ", name(), " kernel");
}

void register_backend(DeviceType type, Backend* b) { registry().backends[size_t(type)] = b; }

Backend& backend(Device device) {
  Backend* b = registry().backends[size_t(device.type)];
  KILN_CHECK(b != nullptr, "device ", device.str(),
             " is not available: this build of Kiln has no CUDA backend (configure with "
             "-DKILN_CUDA=ON on a machine with the CUDA toolkit)");
  return *b;
}

bool supports(OpId op, Device device) {
  Backend* b = registry().backends[size_t(device.type)];
  return b != nullptr && b->supports(op);
}

Backend& backend_for(OpId op, Device device) {
  Backend& b = backend(device);
  KILN_CHECK(b.supports(op), op_name(op), ": no ", b.name(), " kernel (tensor on ", device.str(),
             ")");
  return b;
}

}  // namespace kiln
