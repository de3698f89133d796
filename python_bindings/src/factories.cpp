// Tensor factories and the random generator, with explicit arguments; the `kiln` package wraps
// them with torch's signatures (varargs sizes, keyword dtype/device/requires_grad).
#include "op_binding.h"

namespace kiln::python {

namespace {

TensorOptions options(std::optional<DType> dtype, std::optional<Device> device, bool rg,
                      DType fallback = kDefaultFloat) {
  return TensorOptions(dtype.value_or(fallback), device.value_or(Device::cpu()), rg);
}

Tensor with_grad(Tensor t, bool requires_grad) {
  if (requires_grad) t.requires_grad_(true);
  return t;
}

}  // namespace

void bind_factories(nb::module_& m) {
  const auto none = nb::none();
  using Factory = Tensor (*)(const Shape&, TensorOptions);
  const std::pair<const char*, Factory> by_shape[] = {
      {"_empty", &empty}, {"_zeros", &zeros}, {"_ones", &ones},
      {"_rand", &rand},   {"_randn", &randn},
  };
  for (const auto& [name, fn] : by_shape) {
    m.def(
        name,
        [fn](const Shape& shape, std::optional<DType> dtype, std::optional<Device> device,
             bool rg) { return fn(shape, options(dtype, device, rg)); },
        "size"_a, nb::arg("dtype").none() = none, nb::arg("device").none() = none,
        "requires_grad"_a = false);
  }
  m.def(
      "_full",
      [](const Shape& shape, Scalar value, std::optional<DType> dtype, std::optional<Device> device,
         bool rg) {
        return with_grad(full(shape, value, dtype, device.value_or(Device::cpu())), rg);
      },
      "size"_a, "fill_value"_a, nb::arg("dtype").none() = none, nb::arg("device").none() = none,
      "requires_grad"_a = false);
  m.def(
      "_arange",
      [](double start, double end, double step, std::optional<DType> dtype,
         std::optional<Device> device, bool rg) {
        return with_grad(arange(start, end, step, options(dtype, device, false)), rg);
      },
      "start"_a, "end"_a, "step"_a, "dtype"_a, nb::arg("device").none() = none,
      "requires_grad"_a = false);
  m.def(
      "_linspace",
      [](double start, double end, int64_t steps, std::optional<DType> dtype,
         std::optional<Device> device, bool rg) {
        return with_grad(linspace(start, end, steps, options(dtype, device, false)), rg);
      },
      "start"_a, "end"_a, "steps"_a, nb::arg("dtype").none() = none,
      nb::arg("device").none() = none, "requires_grad"_a = false);
  m.def(
      "_eye",
      [](int64_t n, std::optional<int64_t> mcols, std::optional<DType> dtype,
         std::optional<Device> device,
         bool rg) { return with_grad(eye(n, mcols, options(dtype, device, false)), rg); },
      "n"_a, nb::arg("m").none() = none, nb::arg("dtype").none() = none,
      nb::arg("device").none() = none, "requires_grad"_a = false);
  m.def(
      "_randint",
      [](int64_t low, int64_t high, const Shape& shape, std::optional<DType> dtype,
         std::optional<Device> device, bool rg) {
        return with_grad(randint(low, high, shape, options(dtype, device, false, DType::Int64)),
                         rg);
      },
      "low"_a, "high"_a, "size"_a, nb::arg("dtype").none() = none, nb::arg("device").none() = none,
      "requires_grad"_a = false);
  m.def("bernoulli", &bernoulli, "input"_a);
  auto cls = nb::borrow<nb::class_<Tensor>>(tensor_type());
  cls.def("bernoulli", &bernoulli);
  // x.bernoulli_(p): x filled with 0/1 draws of probability p (a number or a tensor of them).
  cls.def("bernoulli_", returning_self([](Tensor& self, double p) {
            Tensor probs = full(self.shape(), p, DType::Float32, self.device());
            self.copy_(bernoulli(probs).to(self.dtype()));
          }),
          "p"_a = 0.5);
  cls.def("bernoulli_", returning_self([](Tensor& self, const Tensor& p) {
            Tensor probs = (is_floating(p.dtype()) ? p : p.to(kDefaultFloat)).expand(self.shape());
            self.copy_(bernoulli(probs.contiguous()).to(self.dtype()));
          }),
          "p"_a);
  // torch's seed range: [-2**63, 2**64 - 1], negative seeds mapped to 0xffff_ffff_ffff_ffff + seed.
  m.def(
      "manual_seed",
      [](nb::handle seed) {
        KILN_CHECK_TYPE(PyIndex_Check(seed.ptr()) && !is_tensor_object(seed.ptr()),
                        "manual_seed: expected an int seed, got ", python_type_name(seed));
        nb::object value = nb::steal(PyNumber_Index(seed.ptr()));
        if (!value.is_valid()) throw nb::python_error();
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
        uint64_t s = v < 0 ? ~uint64_t(0) + uint64_t(v) : uint64_t(v);
        if (overflow > 0) {
          s = PyLong_AsUnsignedLongLong(value.ptr());
          if (PyErr_Occurred()) {
            PyErr_Clear();
            overflow = -1;
          }
        }
        KILN_CHECK_VALUE(overflow >= 0, "manual_seed: seed ", nb::str(seed).c_str(),
                         " is out of range [-0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff]");
        manual_seed(s);
      },
      "seed"_a);
  m.def("initial_seed", []() { return Generator::default_generator().seed(); });
  m.def("_generator_offset", []() { return Generator::default_generator().offset(); });
}

}  // namespace kiln::python
