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
