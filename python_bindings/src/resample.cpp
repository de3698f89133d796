// Padding, interpolation, pixel shuffle and channel-wise dropout (include/kiln/nn/resample.h)
// as kiln._C._resample. The Python wrappers in kiln.nn.functional normalise torch's arguments
// (ints or sequences, None) into the lists these take.
#include "kiln/nn/resample.h"

#include "bindings.h"

namespace kiln::python {

void bind_resample(nb::module_& m) {
  namespace F = kiln::nn::functional;
  nb::module_ r = m.def_submodule("_resample");
  r.def(
      "pad",
      [](const Tensor& input, const std::vector<int64_t>& pad, const std::string& mode,
         std::optional<double> value) { return F::pad(input, pad, mode, value); },
      "input"_a, "pad"_a, "mode"_a = "constant", nb::arg("value").none() = nb::none());
  r.def(
      "interpolate",
      [](const Tensor& input, const std::vector<int64_t>& size,
         const std::vector<double>& scale_factor, const std::string& mode,
         std::optional<bool> align_corners, std::optional<bool> recompute_scale_factor) {
        return F::interpolate(input, size, scale_factor, mode, align_corners,
                              recompute_scale_factor);
      },
      "input"_a, "size"_a, "scale_factor"_a, "mode"_a = "nearest",
      nb::arg("align_corners").none() = nb::none(),
      nb::arg("recompute_scale_factor").none() = nb::none());
  r.def("pixel_shuffle", &F::pixel_shuffle, "input"_a, "upscale_factor"_a);
  r.def("pixel_unshuffle", &F::pixel_unshuffle, "input"_a, "downscale_factor"_a);
  r.def("dropout2d", &F::dropout2d, "input"_a, "p"_a = 0.5, "training"_a = true);
}

}  // namespace kiln::python
