// kiln._C._nn: the layer functions of torch.nn.functional that are not tensor ops of kiln._C
// (linear, bilinear, embedding, distances). Losses, init and gradient clipping are bound by the
// other nn_*.cpp files; activations and dropout are kiln.<name> (ops_activation.cpp), conv2d and
// pooling kiln._C._conv (conv.cpp). linear is bound for direct use (no Python wrapper) because
// its per-call overhead is what Linear.forward costs beyond the matrix product.
#include "kiln/nn/functional.h"
#include "nn_bindings.h"

namespace kiln::python {

namespace {

// torch.nn.functional.bilinear: y[..., k] = x1[..., i] weight[k, i, j] x2[..., j] + bias[k].
// Computed as one matrix product of x1 with weight laid out as [in1, out * in2], then a
// product with x2 summed over in2 (the same composite as nn::Bilinear).
Tensor bilinear(const Tensor& x1, const Tensor& x2, const Tensor& weight, const Tensor* bias) {
  KILN_CHECK_VALUE(weight.dim() == 3, "bilinear: expected a 3-D weight [out, in1, in2], got ",
                   shape_str(weight.shape()));
  const int64_t out = weight.size(0), in1 = weight.size(1), in2 = weight.size(2);
  KILN_CHECK_VALUE(x1.dim() >= 1 && x1.size(-1) == in1, "bilinear: expected input1 of shape [..., ",
                   in1, "] for weight ", shape_str(weight.shape()), ", got ",
                   shape_str(x1.shape()));
  KILN_CHECK_VALUE(x2.dim() >= 1 && x2.size(-1) == in2, "bilinear: expected input2 of shape [..., ",
                   in2, "] for weight ", shape_str(weight.shape()), ", got ",
                   shape_str(x2.shape()));
  Shape lead(x1.shape().begin(), x1.shape().end() - 1);
  KILN_CHECK_VALUE(Shape(x2.shape().begin(), x2.shape().end() - 1) == lead,
                   "bilinear: input1 and input2 must have the same batch dimensions, got shapes ",
                   shape_str(x1.shape()), " and ", shape_str(x2.shape()));
  if (bias) {
    KILN_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == out,
                     "bilinear: expected a bias of shape [", out, "], got ",
                     shape_str(bias->shape()));
  }
  const int64_t n = numel_of(lead);
  Tensor a = x1.reshape({n, in1});
  Tensor c = x2.reshape({n, in2});
  Tensor w = weight.permute({1, 0, 2}).reshape({in1, out * in2});
  Tensor y = sum(matmul(a, w).reshape({n, out, in2}) * c.unsqueeze(1), {2});
  if (bias) y = y + *bias;
  lead.push_back(out);
  return y.reshape(lead);
}

}  // namespace

void bind_nn(nb::module_& m) {
  nb::module_ nn = m.def_submodule("_nn", "C++ functions behind kiln.nn");
  namespace F = kiln::nn::functional;

  nn.def(
      "linear",
      [](const Tensor& x, const Tensor& w, const Tensor* b) {
        return linear(x, w, b ? *b : Tensor());
      },
      "input"_a, "weight"_a, nb::arg("bias").none() = nb::none());
  nn.def("bilinear", &bilinear, "input1"_a, "input2"_a, "weight"_a,
         nb::arg("bias").none() = nb::none());
  // Index first, like torch.nn.functional.embedding (kiln::embedding takes the table first).
  nn.def(
      "embedding",
      [](const Tensor& indices, const Tensor& weight) { return embedding(weight, indices); },
      "input"_a, "weight"_a);
  nn.def("cosine_similarity", &F::cosine_similarity, "x1"_a, "x2"_a, "dim"_a = 1, "eps"_a = 1e-8);
  nn.def("pairwise_distance", &F::pairwise_distance, "x1"_a, "x2"_a, "p"_a = 2.0, "eps"_a = 1e-6,
         "keepdim"_a = false);

  bind_nn_losses(nn);
  bind_nn_init(nn);
  bind_nn_clip_grad(nn);
}

}  // namespace kiln::python
