// The datasets the C++ library reads or draws (kiln.datasets): MNIST idx files and the
// embedded synthetic digits, as (images, labels) tensor pairs.
#include "bindings.h"

namespace kiln::python {

namespace {

nb::tuple pair_of(const data::TensorDataset& d) { return nb::make_tuple(d.inputs(), d.targets()); }

}  // namespace

void bind_datasets(nb::module_& m) {
  nb::module_ d = m.def_submodule("_datasets");
  d.def(
      "load_mnist",
      [](const std::string& dir, bool train) { return pair_of(data::load_mnist(dir, train)); },
      "root"_a, "train"_a = true);
  d.def(
      "synthetic_digits",
      [](int64_t n, uint64_t seed) { return pair_of(data::synthetic_digits(n, seed)); }, "n"_a,
      "seed"_a);
}

}  // namespace kiln::python
