// CPU feature checks (see isa.h).
#include "cpu/isa.h"

#include <cstdlib>
#include <cstring>

namespace kiln::cpu {

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
  return has;
}

bool avx512_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("KILN_CPU_AVX512");
    return cpu_has_avx512() && !(value && std::strcmp(value, "0") == 0);
  }();
  return enabled;
}

}  // namespace kiln::cpu
