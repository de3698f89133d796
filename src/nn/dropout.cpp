// Dropout.
#include "kiln/nn/dropout.h"

#include "kiln/ops.h"

namespace kiln::nn {

Dropout::Dropout(double p) : Module("Dropout"), p_(p) {
  KILN_CHECK_VALUE(p >= 0 && p <= 1, "Dropout: probability has to be between 0 and 1, but got ", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training()); }

std::string Dropout::extra_repr() const { return "p=" + repr_double(p_) + ", inplace=False"; }

}  // namespace kiln::nn
