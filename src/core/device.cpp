#include "kiln/device.h"

#include "kiln/error.h"

namespace kiln {

Device::Device(const std::string& spec) {
  if (spec == "cpu") {
    type = DeviceType::CPU;
    return;
  }
  if (spec.rfind("cuda", 0) == 0) {
    type = DeviceType::CUDA;
    if (spec.size() == 4) return;
    KILN_CHECK_VALUE(spec[4] == ':' && spec.size() > 5, "unknown device '", spec, "'");
    try {
      size_t used = 0;
      index = std::stoi(spec.substr(5), &used);
      KILN_CHECK_VALUE(used == spec.size() - 5 && index >= 0, "unknown device '", spec, "'");
    } catch (const std::logic_error&) {
      throw ValueError("unknown device '" + spec + "'");
    }
    return;
  }
  throw ValueError("unknown device '" + spec + "' (expected cpu, cuda or cuda:N)");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

}  // namespace kiln
