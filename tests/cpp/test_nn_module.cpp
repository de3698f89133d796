// kiln::nn::Module: registration, names, state_dict / load_state_dict, modes, conversion,
// freezing, apply, containers and repr.
#include <memory>
#include <string>
#include <vector>

#include "test_util.h"

using namespace kiln;
using namespace kiln::nn;
using kiln::testing::expect_close;
using kiln::testing::expect_values;

namespace {

// A user-defined model the way the header documents it: own parameter and buffers, a Sequential
// encoder and a head.
struct Net : Module {
  Tensor scale;
  Tensor steps;
  std::shared_ptr<Sequential> encoder;
  std::shared_ptr<Linear> head;

  Net() : Module("Net") {
    scale = register_parameter("scale", ones({1}));
    steps = register_buffer("steps", zeros({}, DType::Int64));
    register_buffer("scratch", zeros({3}), /*persistent=*/false);
    encoder =
        register_module("encoder", std::make_shared<Sequential>(std::make_shared<Linear>(4, 8),
                                                                std::make_shared<ReLU>(),
                                                                std::make_shared<Linear>(8, 6)));
    head = register_module("head", std::make_shared<Linear>(6, 2));
  }
  Tensor forward(const Tensor& x) override { return (*head)((*encoder)(x)) * scale; }
};

std::vector<std::string> names_of(const NamedTensors& items) {
  std::vector<std::string> out;
  for (const auto& [n, t] : items) out.push_back(n);
  return out;
}

// A module built without a name: repr() takes the C++ type's name.
struct Unnamed : Module {};

}  // namespace

TEST(NnModule, StateDictNamesOrderAndShapes) {
  manual_seed(1);
  auto net = std::make_shared<Net>();
  StateDict sd = net->state_dict();
  // Own parameters, own persistent buffers, then each child in registration order.
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"scale", "steps", "encoder.0.weight",
                                                 "encoder.0.bias", "encoder.2.weight",
                                                 "encoder.2.bias", "head.weight", "head.bias"}));
  EXPECT_EQ(sd.at("encoder.0.weight").shape(), (Shape{8, 4}));  // [out, in] like PyTorch
  EXPECT_EQ(sd.at("encoder.0.bias").shape(), (Shape{8}));
  EXPECT_EQ(sd.at("encoder.2.weight").shape(), (Shape{6, 8}));
  EXPECT_EQ(sd.at("head.weight").shape(), (Shape{2, 6}));
  EXPECT_EQ(sd.at("steps").dtype(), DType::Int64);
  EXPECT_FALSE(sd.contains("scratch"));  // non-persistent
  // Values are detached aliases of the module's tensors.
  EXPECT_FALSE(sd.at("head.weight").requires_grad());
  EXPECT_TRUE(sd.at("head.weight").shares_storage(net->head->weight));
}

TEST(NnModule, NamedAccessors) {
  auto net = std::make_shared<Net>();
  EXPECT_EQ(
      names_of(net->named_parameters()),
      (std::vector<std::string>{"scale", "encoder.0.weight", "encoder.0.bias", "encoder.2.weight",
                                "encoder.2.bias", "head.weight", "head.bias"}));
  EXPECT_EQ(names_of(net->named_parameters(/*recurse=*/false)),
            (std::vector<std::string>{"scale"}));
  EXPECT_EQ(names_of(net->named_buffers()), (std::vector<std::string>{"steps", "scratch"}));
  EXPECT_EQ(net->parameters().size(), 7u);
  for (const Tensor& p : net->parameters()) EXPECT_TRUE(p.requires_grad());

  std::vector<std::string> module_names;
  for (const auto& [n, m] : net->named_modules()) module_names.push_back(n + ":" + m->name());
  EXPECT_EQ(module_names,
            (std::vector<std::string>{":Net", "encoder:Sequential", "encoder.0:Linear",
                                      "encoder.1:ReLU", "encoder.2:Linear", "head:Linear"}));
  EXPECT_EQ(net->modules().size(), 6u);
  ASSERT_EQ(net->children().size(), 2u);
  EXPECT_EQ(net->children()[0].get(), net->encoder.get());
  EXPECT_EQ(net->named_children()[1].first, "head");

  EXPECT_TRUE(net->get_parameter("encoder.2.bias").is_same(net->encoder->at<Linear>(2)->bias));
  EXPECT_TRUE(net->get_parameter("scale").is_same(net->scale));
  EXPECT_TRUE(net->get_buffer("steps").is_same(net->steps));
  EXPECT_EQ(net->get_submodule("encoder.1")->name(), "ReLU");
  EXPECT_EQ(net->get_submodule("").get(), net.get());
  EXPECT_THROW_MSG(net->get_submodule("encoder.7"), Error, "Sequential has no submodule '7'");
  EXPECT_THROW_MSG(net->get_parameter("head.gamma"), Error, "Linear has no parameter 'gamma'");
}

TEST(NnModule, SharedParametersAndModules) {
  // Weight tying: the same tensor in two modules is one parameter but two state_dict entries,
  // and a shared submodule is one module, as in PyTorch.
  auto a = std::make_shared<Linear>(3, 3);
  auto b = std::make_shared<Linear>(3, 3);
  b->weight = b->register_parameter("weight", a->weight);
  auto shared = std::make_shared<ReLU>();
  auto seq = std::make_shared<Sequential>(a, shared, b, shared);
  EXPECT_EQ(names_of(seq->named_parameters()),
            (std::vector<std::string>{"0.weight", "0.bias", "2.bias"}));
  EXPECT_EQ(seq->state_dict().keys(),
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(seq->modules().size(), 4u);  // seq, a, shared, b
  EXPECT_EQ(seq->size(), 4u);            // but the sequence runs all four
}

TEST(NnModule, RegistrationErrors) {
  Net net;
  EXPECT_THROW_MSG(net.register_parameter("a.b", zeros({1})), ValueError, "must not contain '.'");
  EXPECT_THROW_MSG(net.register_buffer("scale", zeros({1})), ValueError,
                   "'scale' is already a parameter of Net");
  EXPECT_THROW_MSG(net.register_parameter("head", zeros({1})), ValueError,
                   "'head' is already a submodule of Net");
  Tensor leaf = ones({2}).requires_grad_(true);
  EXPECT_THROW_MSG(net.register_parameter("w", leaf * 2), Error, "'w' has autograd history");
  EXPECT_THROW_MSG(net.register_parameter("idx", zeros({2}, DType::Int64)), TypeError,
                   "'idx' must be floating point");
  // An integer parameter that does not require grad is allowed.
  EXPECT_NO_THROW(net.register_parameter("idx", zeros({2}, DType::Int64), false));

  auto outer = std::make_shared<Sequential>();
  auto inner = std::make_shared<Sequential>();
  outer->push_back(inner);
  EXPECT_THROW_MSG(inner->push_back(outer), ValueError, "modules must form a tree");
  EXPECT_THROW_MSG(outer->register_module("x", std::shared_ptr<Module>()), ValueError,
                   "null module");
}

TEST(NnModule, ModuleOnTheStackNeedsSharedPtrForNamedModules) {
  Net net;  // fine for everything that does not hand out shared pointers to itself
  EXPECT_EQ(net.state_dict().size(), 8u);
  EXPECT_THROW_MSG(net.named_modules(), Error, "must be held by a std::shared_ptr");
}

TEST(NnModule, LoadStateDictRoundTrip) {
  manual_seed(1);
  auto src = std::make_shared<Net>();
  manual_seed(2);
  auto dst = std::make_shared<Net>();
  Tensor w_handle = dst->head->weight;
  Tensor x = randn({5, 4});
  EXPECT_FALSE(allclose((*src)(x), (*dst)(x)));

  {
    NoGradGuard g;
    src->steps.fill_(7);
  }
  LoadStateDictResult r = dst->load_state_dict(src->state_dict());
  EXPECT_TRUE(r.missing_keys.empty());
  EXPECT_TRUE(r.unexpected_keys.empty());
  // Copied in place: same handles, leaves that still require grad, equal values.
  EXPECT_TRUE(dst->head->weight.is_same(w_handle));
  EXPECT_TRUE(dst->head->weight.requires_grad());
  EXPECT_TRUE(dst->head->weight.is_leaf());
  EXPECT_FALSE(dst->head->weight.shares_storage(src->head->weight));
  EXPECT_EQ(dst->steps.item(), 7);
  expect_close((*dst)(x), (*src)(x), 0, 0, "forward after load");
}

TEST(NnModule, LoadStateDictCastsDtype) {
  manual_seed(3);
  auto src = std::make_shared<Linear>(3, 2);
  auto dst = std::make_shared<Linear>(3, 2);
  StateDict sd;
  for (const auto& [k, v] : src->state_dict()) sd.insert(k, v.to(DType::Float64));
  dst->load_state_dict(sd);
  EXPECT_EQ(dst->weight.dtype(), DType::Float32);
  expect_close(dst->weight, src->weight, 0, 0);
}

TEST(NnModule, StrictLoadErrorsNameEveryKeyAndShape) {
  manual_seed(4);
  auto net = std::make_shared<Net>();
  StateDict sd = net->state_dict();
  sd.erase("head.bias");
  sd.erase("encoder.0.weight");
  sd.insert("head.gamma", zeros({2}));
  sd.insert("encoder.2.weight", zeros({6, 9}));
  std::string msg = kiln::testing::error_message([&] { net->load_state_dict(sd); });
  kiln::testing::expect_contains(
      msg, {"Error(s) in loading state_dict for Net",
            "Missing key(s) in state_dict:", "\"encoder.0.weight\"", "\"head.bias\"",
            "Unexpected key(s) in state_dict: \"head.gamma\"", "size mismatch for encoder.2.weight",
            "shape [6, 9] from checkpoint", "the shape in current model is [6, 8]"});
  // PyTorch's order: missing, unexpected, sizes.
  EXPECT_LT(msg.find("Missing"), msg.find("Unexpected"));
  EXPECT_LT(msg.find("Unexpected"), msg.find("size mismatch"));
}

TEST(NnModule, FailedLoadLeavesModuleUnchanged) {
  manual_seed(5);
  auto net = std::make_shared<Net>();
  StateDict before;
  for (const auto& [k, v] : net->state_dict()) before.insert(k, v.clone());
  // Every entry but one is valid and different; the bad one comes last, so a load that copied
  // while checking would already have written the others.
  StateDict sd;
  for (const auto& [k, v] : net->state_dict()) sd.insert(k, full_like(v, 3));
  sd.insert("head.bias", zeros({5}));
  EXPECT_THROW_MSG(net->load_state_dict(sd), Error, "size mismatch for head.bias");
  sd.insert("head.bias", zeros({2}));
  sd.insert("extra", zeros({1}));
  EXPECT_THROW_MSG(net->load_state_dict(sd), Error, "Unexpected key(s) in state_dict: \"extra\"");
  for (const auto& [k, v] : net->state_dict()) expect_close(v, before.at(k), 0, 0, k);
}

TEST(NnModule, NonStrictLoadReturnsKeys) {
  manual_seed(6);
  auto net = std::make_shared<Net>();
  StateDict sd;
  sd.insert("head.weight", ones({2, 6}));
  sd.insert("encoder.9.weight", ones({1}));
  LoadStateDictResult r = net->load_state_dict(sd, /*strict=*/false);
  EXPECT_EQ(r.unexpected_keys, (std::vector<std::string>{"encoder.9.weight"}));
  EXPECT_EQ(r.missing_keys,
            (std::vector<std::string>{"scale", "steps", "encoder.0.weight", "encoder.0.bias",
                                      "encoder.2.weight", "encoder.2.bias", "head.bias"}));
  expect_values(net->head->weight, {2, 6}, std::vector<double>(12, 1.0));
  // A shape mismatch is an error even when not strict (as in PyTorch), and nothing is copied.
  sd.insert("head.weight", zeros({2, 6}));
  sd.insert("head.bias", zeros({3}));
  EXPECT_THROW_MSG(net->load_state_dict(sd, false), Error, "size mismatch for head.bias",
                   "[3] from checkpoint", "current model is [2]");
  expect_values(net->head->weight, {2, 6}, std::vector<double>(12, 1.0));
}

TEST(NnModule, TrainEvalIsRecursiveAndDrivesDropout) {
  auto drop = std::make_shared<Dropout>(0.5);
  auto seq = std::make_shared<Sequential>(std::make_shared<Linear>(2, 2), drop);
  EXPECT_TRUE(seq->is_training());
  EXPECT_TRUE(drop->is_training());
  seq->eval();
  EXPECT_FALSE(seq->is_training());
  EXPECT_FALSE(drop->is_training());
  Tensor x = ones({1000});
  expect_close(drop->forward(x), x, 0, 0, "eval dropout is the identity");
  seq->train();
  EXPECT_TRUE(drop->is_training());
  std::vector<double> v = drop->forward(x).to_vector();
  int zeros_seen = 0;
  for (double e : v) {
    EXPECT_TRUE(e == 0.0 || e == 2.0) << e;
    zeros_seen += e == 0.0;
  }
  EXPECT_GT(zeros_seen, 400);
  EXPECT_LT(zeros_seen, 600);
}

TEST(NnModule, FreezingAndZeroGrad) {
  manual_seed(7);
  auto net = std::make_shared<Net>();
  net->encoder->requires_grad_(false);
  Tensor loss = sum((*net)(randn({3, 4})));
  loss.backward();
  for (const auto& [n, p] : net->encoder->named_parameters()) {
    EXPECT_FALSE(p.requires_grad()) << n;
    EXPECT_FALSE(p.grad().defined()) << n;
  }
  EXPECT_TRUE(net->head->weight.grad().defined());
  EXPECT_TRUE(net->scale.grad().defined());
  net->zero_grad();  // zeros where there was a gradient, as PyTorch 1.13's default
  for (const auto& [n, p] : net->named_parameters()) {
    if (!p.requires_grad()) {
      EXPECT_FALSE(p.grad().defined()) << n;  // frozen: never had one
      continue;
    }
    ASSERT_TRUE(p.grad().defined()) << n;
    EXPECT_EQ(sum(abs(p.grad())).item(), 0.0) << n;
  }
  net->zero_grad(/*set_to_none=*/true);
  for (const Tensor& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
  net->requires_grad_(true);
  EXPECT_TRUE(net->encoder->at<Linear>(0)->weight.requires_grad());
}

TEST(NnModule, GradientsReachEveryParameter) {
  manual_seed(8);
  auto net = std::make_shared<Net>();
  Tensor x = randn({3, 4});
  sum((*net)(x)).backward();
  for (const auto& [n, p] : net->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << n;
    EXPECT_EQ(p.grad().shape(), p.shape()) << n;
  }
  // head: y = (h W^T + b) * scale, so d sum(y) / d b = scale * batch.
  expect_values(net->head->bias.grad(), {2}, {3, 3}, 1e-6);
}

TEST(NnModule, ToFloat64KeepsHandles) {
  manual_seed(9);
  auto net = std::make_shared<Net>();
  Tensor x = randn({2, 4});
  Tensor y32 = (*net)(x);
  sum(y32).backward();
  Tensor w = net->head->weight;
  Tensor w_before = w.clone();
  net->to(DType::Float64);
  EXPECT_TRUE(net->head->weight.is_same(w));
  EXPECT_EQ(w.dtype(), DType::Float64);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(w.is_leaf());
  EXPECT_EQ(w.grad().dtype(), DType::Float64);  // gradients follow
  expect_close(w, w_before, 0, 0, "values survive the cast");
  EXPECT_EQ(net->steps.dtype(), DType::Int64);  // integer buffers are left alone
  EXPECT_EQ(net->get_buffer("scratch").dtype(), DType::Float64);
  for (const Tensor& p : net->parameters()) EXPECT_EQ(p.dtype(), DType::Float64);

  Tensor y64 = (*net)(x.to(DType::Float64));
  EXPECT_EQ(y64.dtype(), DType::Float64);
  expect_close(y64, y32.detach().to(DType::Float64), 1e-5, 1e-5);
  net->zero_grad();
  sum(y64).backward();
  EXPECT_EQ(w.grad().dtype(), DType::Float64);

  net->to(Device::cpu(), DType::Float32);
  EXPECT_EQ(w.dtype(), DType::Float32);
  EXPECT_THROW_MSG(net->to(DType::Int64), TypeError, "only floating point dtypes");
}

TEST(NnModule, SetDataReplacesDataKeepsAutograd) {
  Tensor p = zeros({2}).requires_grad_(true);
  p.set_grad(ones({2}));
  p.set_data(tensor({1.0, 2.0, 3.0}, {3}, DType::Float64));
  EXPECT_EQ(p.shape(), (Shape{3}));
  EXPECT_EQ(p.dtype(), DType::Float64);
  EXPECT_TRUE(p.requires_grad());
  expect_values(p, {3}, {1, 2, 3});
  EXPECT_THROW_MSG(p.set_data(zeros({2}, DType::Int64)), TypeError, "floating point data");
  EXPECT_THROW_MSG(p.set_data(Tensor()), Error, "undefined");
}

TEST(NnModule, ApplyVisitsChildrenFirst) {
  auto net = std::make_shared<Net>();
  std::vector<std::string> order;
  net->apply([&](Module& m) { order.push_back(m.name()); });
  EXPECT_EQ(order,
            (std::vector<std::string>{"Linear", "ReLU", "Linear", "Sequential", "Linear", "Net"}));
  // Custom initialisation the PyTorch way.
  net->apply([](Module& m) {
    if (auto* lin = dynamic_cast<Linear*>(&m)) {
      init::constant_(lin->weight, 0.5);
      init::zeros_(lin->bias);
    }
  });
  expect_values(net->head->weight, {2, 6}, std::vector<double>(12, 0.5));
  expect_values(net->encoder->at<Linear>(0)->bias, {8}, std::vector<double>(8, 0.0));
  EXPECT_TRUE(net->head->weight.is_leaf());
}

TEST(NnModule, ReprLikePyTorch) {
  auto seq = std::make_shared<Sequential>(std::make_shared<Linear>(4, 3), std::make_shared<ReLU>());
  EXPECT_EQ(
      seq->repr(),
      "Sequential(\n  (0): Linear(in_features=4, out_features=3, bias=True)\n  (1): ReLU()\n)");
  EXPECT_EQ(Net().repr(),
            "Net(\n"
            "  (encoder): Sequential(\n"
            "    (0): Linear(in_features=4, out_features=8, bias=True)\n"
            "    (1): ReLU()\n"
            "    (2): Linear(in_features=8, out_features=6, bias=True)\n"
            "  )\n"
            "  (head): Linear(in_features=6, out_features=2, bias=True)\n"
            ")");
  EXPECT_EQ(Sequential().repr(), "Sequential()");
  EXPECT_EQ(Unnamed().repr(), "Unnamed()");

  ModuleList list;
  list.append(std::make_shared<Linear>(2, 2));
  list.append(std::make_shared<Linear>(2, 2));
  list.append(std::make_shared<Linear>(2, 2));
  list.append(std::make_shared<Tanh>());
  list.append(std::make_shared<Linear>(2, 2));
  EXPECT_EQ(list.repr(),
            "ModuleList(\n"
            "  (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)\n"
            "  (3): Tanh()\n"
            "  (4): Linear(in_features=2, out_features=2, bias=True)\n"
            ")");
  EXPECT_EQ(ModuleList().repr(), "ModuleList()");

  ModuleDict dict(
      {{"act", std::make_shared<GELU>("tanh")}, {"drop", std::make_shared<Dropout>(0.1)}});
  EXPECT_EQ(
      dict.repr(),
      "ModuleDict(\n  (act): GELU(approximate='tanh')\n  (drop): Dropout(p=0.1, inplace=False)\n)");
}

TEST(NnModule, ReprOfNumbersLikePython) {
  EXPECT_EQ(repr_double(1.0), "1.0");
  EXPECT_EQ(repr_double(0.01), "0.01");
  EXPECT_EQ(repr_double(20), "20.0");
  EXPECT_EQ(repr_double(-0.5), "-0.5");
  EXPECT_EQ(repr_double(1e-5), "1e-05");
  EXPECT_EQ(repr_double(0.0001), "0.0001");
  EXPECT_EQ(repr_double(1e16), "1e+16");
  EXPECT_EQ(repr_double(123456.75), "123456.75");
  EXPECT_EQ(repr_double(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(repr_double(0.0), "0.0");
}

TEST(NnModule, SequentialIndexingAndForward) {
  auto lin = std::make_shared<Linear>(3, 3);
  auto seq = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{lin});
  seq->push_back(std::make_shared<ReLU>());
  seq->push_back(lin);  // the same layer twice runs twice
  EXPECT_EQ(seq->size(), 3u);
  EXPECT_EQ((*seq)[-1].get(), lin.get());
  EXPECT_EQ(seq->at<Linear>(0).get(), lin.get());
  EXPECT_THROW_MSG(seq->at<Linear>(1), TypeError, "Sequential[1] is a ReLU");
  EXPECT_THROW_MSG((*seq)[3], Error, "index 3 is out of range for 3 modules");
  Tensor x = randn({2, 3});
  expect_close((*seq)(x), (*lin)(relu((*lin)(x))), 0, 0);
  int count = 0;
  for (const auto& m : *seq) count += m != nullptr;
  EXPECT_EQ(count, 3);

  auto named = std::make_shared<Sequential>(
      NamedModules{{"fc", std::make_shared<Linear>(2, 2)}, {"act", std::make_shared<ReLU>()}});
  EXPECT_EQ(named->state_dict().keys(), (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_THROW_MSG(named->push_back("fc", std::make_shared<ReLU>()), ValueError,
                   "duplicate name 'fc'");
}

TEST(NnModule, ModuleListAndDict) {
  auto list = std::make_shared<ModuleList>();
  list->append(std::make_shared<Linear>(1, 2));
  list->extend({std::make_shared<Linear>(2, 3)});
  list->insert(1, std::make_shared<ReLU>());
  EXPECT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[1]->name(), "ReLU");
  EXPECT_EQ(list->state_dict().keys(),
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(list->at<Linear>(2)->out_features(), 3);
  EXPECT_THROW_MSG((*list)(zeros({1})), Error, "ModuleList: this module has no forward");

  auto dict = std::make_shared<ModuleDict>();
  dict->insert("b", std::make_shared<Linear>(1, 1));
  dict->insert("a", std::make_shared<Linear>(1, 1, false));
  EXPECT_EQ(dict->keys(), (std::vector<std::string>{"b", "a"}));  // insertion order
  EXPECT_EQ(dict->state_dict().keys(),
            (std::vector<std::string>{"b.weight", "b.bias", "a.weight"}));
  EXPECT_TRUE(dict->contains("a"));
  auto popped = dict->pop("b");
  EXPECT_EQ(popped->name(), "Linear");
  EXPECT_EQ(dict->keys(), (std::vector<std::string>{"a"}));
  EXPECT_THROW_MSG((*dict)["zz"], ValueError, "no module under the key 'zz'");
  dict->clear();
  EXPECT_TRUE(dict->empty());
}
