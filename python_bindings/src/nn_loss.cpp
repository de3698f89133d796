// The losses of kiln/nn/functional.h with torch's argument names and order, minus the
// deprecated size_average/reduce pair (kiln/nn/functional.py handles those). Optional weight
// tensors are None in Python.
#include "kiln/nn/functional.h"
#include "nn_bindings.h"

namespace kiln::python {

namespace {

Tensor or_undefined(const Tensor* t) { return t ? *t : Tensor(); }

}  // namespace

void bind_nn_losses(nb::module_& nn) {
  namespace F = kiln::nn::functional;
  auto none = nb::none();

  nn.def("mse_loss", &F::mse_loss, "input"_a, "target"_a, "reduction"_a = "mean");
  nn.def("l1_loss", &F::l1_loss, "input"_a, "target"_a, "reduction"_a = "mean");
  nn.def("smooth_l1_loss", &F::smooth_l1_loss, "input"_a, "target"_a, "reduction"_a = "mean",
         "beta"_a = 1.0);
  nn.def("huber_loss", &F::huber_loss, "input"_a, "target"_a, "reduction"_a = "mean",
         "delta"_a = 1.0);
  nn.def(
      "binary_cross_entropy",
      [](const Tensor& x, const Tensor& t, const Tensor* w, const std::string& reduction) {
        return F::binary_cross_entropy(x, t, or_undefined(w), reduction);
      },
      "input"_a, "target"_a, nb::arg("weight").none() = none, "reduction"_a = "mean");
  nn.def(
      "binary_cross_entropy_with_logits",
      [](const Tensor& x, const Tensor& t, const Tensor* w, const std::string& reduction,
         const Tensor* pos_weight) {
        return F::binary_cross_entropy_with_logits(x, t, or_undefined(w), or_undefined(pos_weight),
                                                   reduction);
      },
      "input"_a, "target"_a, nb::arg("weight").none() = none, "reduction"_a = "mean",
      nb::arg("pos_weight").none() = none);
  nn.def(
      "cross_entropy",
      [](const Tensor& x, const Tensor& t, const Tensor* w, int64_t ignore_index,
         const std::string& reduction, double label_smoothing) {
        return F::cross_entropy(x, t, or_undefined(w), ignore_index, reduction, label_smoothing);
      },
      "input"_a, "target"_a, nb::arg("weight").none() = none, "ignore_index"_a = -100,
      "reduction"_a = "mean", "label_smoothing"_a = 0.0);
  nn.def(
      "nll_loss",
      [](const Tensor& x, const Tensor& t, const Tensor* w, int64_t ignore_index,
         const std::string& reduction) {
        return F::nll_loss(x, t, or_undefined(w), ignore_index, reduction);
      },
      "input"_a, "target"_a, nb::arg("weight").none() = none, "ignore_index"_a = -100,
      "reduction"_a = "mean");
  nn.def("kl_div", &F::kl_div, "input"_a, "target"_a, "reduction"_a = "mean",
         "log_target"_a = false);
  nn.def("triplet_margin_loss", &F::triplet_margin_loss, "anchor"_a, "positive"_a, "negative"_a,
         "margin"_a = 1.0, "p"_a = 2.0, "eps"_a = 1e-6, "swap"_a = false, "reduction"_a = "mean");
  nn.def("cosine_embedding_loss", &F::cosine_embedding_loss, "input1"_a, "input2"_a, "target"_a,
         "margin"_a = 0.0, "reduction"_a = "mean");
  nn.def("margin_ranking_loss", &F::margin_ranking_loss, "input1"_a, "input2"_a, "target"_a,
         "margin"_a = 0.0, "reduction"_a = "mean");
}

}  // namespace kiln::python
