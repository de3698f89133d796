// kiln._C._optim: the C++ optimizers and learning-rate schedulers, wrapped with torch's
// signatures by the pure-Python kiln.optim package.
#include "optim_binding.h"

namespace kiln::python {

nb::dict metadata_to_python(const StateDict& sd) {
  nb::dict out;
  for (const auto& [key, value] : sd.metadata()) out[nb::str(key.c_str())] = nb::str(value.c_str());
  return out;
}

StateDict metadata_from_python(const nb::dict& meta) {
  StateDict sd;
  for (auto [key, value] : meta) {
    sd.metadata()[nb::cast<std::string>(key)] = nb::cast<std::string>(value);
  }
  return sd;
}

void bind_optim(nb::module_& m) {
  nb::module_ sub = m.def_submodule("_optim", "C++ optimizers and schedulers behind kiln.optim");
  bind_optimizers(sub);
  bind_lr_schedulers(sub);
}

}  // namespace kiln::python
