// kiln._C._models: the C++ model zoo (include/kiln/models/) seen from Python, for the tests that
// hold it to the Python zoo (kiln.models): its state_dict names and shapes, its repr and its
// receptive-field table. Models are named as in Python: lenet5, vgg, resnet18/34/50, unet, with
// the Python constructors' keyword arguments.
#include "kiln/models/models.h"

#include <nanobind/stl/pair.h>
#include <nanobind/stl/tuple.h>

#include "bindings.h"
#include "kiln/nn/receptive_field.h"

namespace kiln::python {

namespace {

// The keyword arguments of one model: each is taken once; leftovers are an error.
class Kwargs {
 public:
  Kwargs(const std::string& model, const nb::kwargs& kw) : model_(model) {
    for (auto [k, v] : kw) items_.emplace_back(nb::cast<std::string>(k), nb::borrow(v));
  }
  template <class T>
  T get(const std::string& key, T fallback) {
    for (auto it = items_.begin(); it != items_.end(); ++it) {
      if (it->first != key) continue;
      T v = nb::cast<T>(it->second);
      items_.erase(it);
      return v;
    }
    return fallback;
  }
  void done() const {
    KILN_CHECK_TYPE(items_.empty(), model_, ": unexpected keyword argument '",
                    items_.empty() ? "" : items_.front().first, "'");
  }

 private:
  std::string model_;
  std::vector<std::pair<std::string, nb::object>> items_;
};

// A VGG configuration: a name ("vgg11") or a list of channel counts and "M".
std::vector<int64_t> vgg_cfg(nb::handle cfg) {
  if (nb::isinstance<nb::str>(cfg)) return models::vgg_config(nb::cast<std::string>(cfg));
  std::vector<int64_t> out;
  for (nb::handle v : cfg) {
    if (nb::isinstance<nb::str>(v)) {
      KILN_CHECK_VALUE(nb::cast<std::string>(v) == "M",
                       "vgg: configuration entries are numbers "
                       "or 'M'");
      out.push_back(models::kPool);
    } else {
      out.push_back(nb::cast<int64_t>(v));
    }
  }
  return out;
}

std::shared_ptr<nn::Module> build(const std::string& name, const nb::kwargs& kwargs) {
  Kwargs kw(name, kwargs);
  std::shared_ptr<nn::Module> model;
  if (name == "lenet5") {
    const int64_t num_classes = kw.get<int64_t>("num_classes", 10);
    model = std::make_shared<models::LeNet5>(num_classes, kw.get<int64_t>("in_channels", 1));
  } else if (name == "resnet18" || name == "resnet34" || name == "resnet50") {
    models::ResNetOptions o;
    o.num_classes = kw.get<int64_t>("num_classes", 1000);
    o.in_channels = kw.get<int64_t>("in_channels", 3);
    o.stem = models::resnet_stem(kw.get<std::string>("stem", "imagenet"));
    o.zero_init_residual = kw.get<bool>("zero_init_residual", false);
    model = models::resnet(std::stoll(name.substr(6)), o);
  } else if (name == "vgg") {
    models::VGGOptions o;
    if (nb::object cfg = kw.get<nb::object>("cfg", nb::none()); !cfg.is_none())
      o.config = vgg_cfg(cfg);
    o.batch_norm = kw.get<bool>("batch_norm", false);
    o.num_classes = kw.get<int64_t>("num_classes", 1000);
    o.in_channels = kw.get<int64_t>("in_channels", 3);
    o.pool_size = kw.get<int64_t>("pool_size", 7);
    o.hidden = kw.get<int64_t>("hidden", 4096);
    o.dropout = kw.get<double>("dropout", 0.5);
    model = std::make_shared<models::VGG>(o);
  } else if (name == "unet") {
    models::UNetOptions o;
    o.in_channels = kw.get<int64_t>("in_channels", 3);
    o.num_classes = kw.get<int64_t>("num_classes", 2);
    o.base_channels = kw.get<int64_t>("base_channels", 16);
    o.depth = kw.get<int64_t>("depth", 3);
    o.bilinear = kw.get<bool>("bilinear", false);
    o.batch_norm = kw.get<bool>("batch_norm", true);
    model = std::make_shared<models::UNet>(o);
  } else {
    throw ValueError("_models: unknown model '" + name +
                     "' (available: lenet5, vgg, resnet18, resnet34, resnet50, unet)");
  }
  kw.done();
  return model;
}

}  // namespace

void bind_models(nb::module_& m) {
  nb::module_ z = m.def_submodule("_models", "the C++ model zoo, for tests against kiln.models");
  z.def(
      "state_dict_shapes",
      [](const std::string& name, const nb::kwargs& kwargs) {
        std::vector<std::pair<std::string, Shape>> out;
        for (const auto& [key, t] : build(name, kwargs)->state_dict())
          out.emplace_back(key, t.shape());
        return out;
      },
      "name"_a, "kwargs"_a, "[(key, shape)] of the C++ model's state_dict, in order");
  z.def(
      "repr",
      [](const std::string& name, const nb::kwargs& kwargs) { return build(name, kwargs)->repr(); },
      "name"_a, "kwargs"_a);
  z.def(
      "receptive_field",
      [](const std::string& name, const Shape& input_shape, const nb::kwargs& kwargs) {
        auto model = build(name, kwargs);
        nn::ReceptiveField rf = nn::receptive_field(*model, input_shape);
        nb::list rows;
        for (const auto& l : rf.layers)
          rows.append(
              nb::make_tuple(l.name, l.type, l.output_shape, l.receptive_field, l.jump, l.start));
        return nb::make_tuple(rows, rf.to_string());
      },
      "name"_a, "input_shape"_a, "kwargs"_a,
      "([(name, type, output_shape, field, jump, start)], table) of the C++ model");
}

}  // namespace kiln::python
