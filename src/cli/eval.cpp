// kiln eval: the test-split loss and accuracy of a checkpoint written by kiln train.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/run_state.h"
#include "cli/setup.h"
#include "kiln/io/safetensors.h"
#include "kiln/kiln.h"

namespace kiln::cli {

int run_eval(int argc, char** argv) {
  Args args(argc, argv, 2, {"checkpoint", "data", "device"}, {});
  KILN_CHECK_VALUE(args.has("checkpoint"), "eval: --checkpoint FILE is required");
  StateDict all = load_safetensors(args.get("checkpoint", ""));
  RunState run = RunState::load(all.metadata());
  StateDict weights;
  for (const auto& [name, t] : all)
    if (name.rfind("model.", 0) == 0) weights.insert(name.substr(6), t);
  const std::string model_name = args.positionals().empty() ? run.model : args.positionals()[0];
  KILN_CHECK_VALUE(model_name == run.model, "eval: the checkpoint holds a '", run.model,
                   "' model, not '", model_name, "'");
  const Device device(args.get("device", default_device()));
  auto model = make_model(model_name);
  model->load_state_dict(weights);
  model->to(device);
  Datasets data = make_datasets(model_name, args.get("data", run.data), run.seed);
  Evaluation e = evaluate(*model, data.test, device);
  std::printf("%s on %s: test loss %.4f, accuracy %.2f%% (%lld examples)\n", model_name.c_str(),
              data.description.c_str(), e.loss, 100 * e.accuracy,
              static_cast<long long>(data.test->size()));
  return 0;
}

}  // namespace kiln::cli
