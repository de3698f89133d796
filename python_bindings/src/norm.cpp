// batch_norm, group_norm and instance_norm (include/kiln/nn/normalization.h) for
// kiln.nn.functional, as the submodule kiln._C._norm. Optional tensors are None in Python;
// momentum None means an update factor of 0 (the modules pass 1 / num_batches_tracked).
#include <optional>

#include "bindings.h"
#include "kiln/nn/normalization.h"

namespace kiln::python {

namespace {

namespace F = kiln::nn::functional;

Tensor or_undefined(const std::optional<Tensor>& t) { return t.value_or(Tensor()); }

}  // namespace

void bind_norm(nb::module_& m) {
  nb::module_ c = m.def_submodule("_norm");
  c.def(
      "batch_norm",
      [](const Tensor& input, std::optional<Tensor> running_mean, std::optional<Tensor> running_var,
         std::optional<Tensor> weight, std::optional<Tensor> bias, bool training,
         std::optional<double> momentum, double eps) {
        return F::batch_norm(input, or_undefined(running_mean), or_undefined(running_var),
                             or_undefined(weight), or_undefined(bias), training, momentum, eps);
      },
      "input"_a, nb::arg("running_mean").none(), nb::arg("running_var").none(),
      nb::arg("weight").none() = nb::none(), nb::arg("bias").none() = nb::none(),
      "training"_a = false, nb::arg("momentum").none() = 0.1, "eps"_a = 1e-5);
  c.def(
      "group_norm",
      [](const Tensor& input, int64_t num_groups, std::optional<Tensor> weight,
         std::optional<Tensor> bias, double eps) {
        return F::group_norm(input, num_groups, or_undefined(weight), or_undefined(bias), eps);
      },
      "input"_a, "num_groups"_a, nb::arg("weight").none() = nb::none(),
      nb::arg("bias").none() = nb::none(), "eps"_a = 1e-5);
  c.def(
      "instance_norm",
      [](const Tensor& input, std::optional<Tensor> running_mean, std::optional<Tensor> running_var,
         std::optional<Tensor> weight, std::optional<Tensor> bias, bool use_input_stats,
         std::optional<double> momentum, double eps) {
        return F::instance_norm(input, or_undefined(running_mean), or_undefined(running_var),
                                or_undefined(weight), or_undefined(bias), use_input_stats, momentum,
                                eps);
      },
      "input"_a, nb::arg("running_mean").none() = nb::none(),
      nb::arg("running_var").none() = nb::none(), nb::arg("weight").none() = nb::none(),
      nb::arg("bias").none() = nb::none(), "use_input_stats"_a = true,
      nb::arg("momentum").none() = 0.1, "eps"_a = 1e-5);
}

}  // namespace kiln::python
