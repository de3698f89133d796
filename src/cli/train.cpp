// kiln train: the main job. Trains a model with a progress bar, evaluates every epoch, writes a
// checkpoint each epoch (and on Ctrl-C), a summary JSON and a plot of the curves.
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/ddp_run.h"
#include "cli/plot.h"
#include "cli/progress.h"
#include "cli/run_state.h"
#include "cli/setup.h"
#include "io/json.h"
#include "kiln/io/file.h"
#include "kiln/io/safetensors.h"
#include "kiln/kiln.h"

namespace kiln::cli {

namespace {

std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT handler sets this flag");
// The first Ctrl-C asks for a checkpoint; a second one kills the process the usual way.
extern "C" void on_sigint(int) {
  interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);
}

const std::vector<std::string> kOptions = {
    "data",   "epochs",     "batch-size", "lr",  "optimizer",        "scheduler", "seed",
    "device", "checkpoint", "resume",     "out", "stop-after-steps", "depth"};

void train_usage() {
  std::printf(
      "usage: kiln train mlp|lenet|resnet [options]\n\n"
      "  --data DIR         MNIST idx files (mlp, lenet) or CIFAR-10 batches (resnet); default:\n"
      "                     lenet ../shared/data/mnist-t10k if present, else synthetic data\n"
      "  --depth N          resnet: 18 (default), 34 or 50 (CIFAR stem)\n"
      "  --epochs N         default 5\n"
      "  --batch-size N     default 32\n"
      "  --lr X             default 0.05\n"
      "  --optimizer NAME   sgd, momentum (default), nesterov, adagrad, rmsprop, adam, adamw\n"
      "  --scheduler NAME   none, step, exponential, cosine (default), linear, onecycle\n"
      "  --seed N           default 0\n"
      "  --device DEV       cpu or cuda[:N] (default: cuda when a GPU is usable, else cpu)\n"
      "  --checkpoint FILE  where to save (default OUT/checkpoint.safetensors)\n"
      "  --resume FILE      continue a run from its checkpoint (its options are kept)\n"
      "  --out DIR          summary.json, curves.svg and the checkpoint (default runs/<model>)\n"
      "  --ddp              data-parallel over the ranks of `mpirun -np N kiln train ... --ddp`\n"
      "                     (MPI on the CPU, NCCL on GPUs); --batch-size is per rank\n"
      "Ctrl-C saves a checkpoint and exits; --resume continues bit for bit.\n");
}

void save_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& opt,
                     optim::LRScheduler* sched, RunState state) {
  Generator& gen = Generator::default_generator();
  state.generator_seed = gen.seed();
  state.generator_offset = gen.offset();
  StateDict ckpt;
  for (const auto& [name, t] : model.state_dict()) ckpt.insert("model." + name, t);
  StateDict o = opt.state_dict();
  for (const auto& [name, t] : o) ckpt.insert("optim." + name, t);
  for (const auto& [k, v] : o.metadata()) ckpt.metadata()["optim." + k] = v;
  if (sched) {
    StateDict s = sched->state_dict();
    for (const auto& [k, v] : s.metadata()) ckpt.metadata()["sched." + k] = v;
  }
  state.save(ckpt.metadata());
  // A tensor, not metadata: it grows with every step, and the header has a size limit.
  ckpt.insert("run.step_losses",
              tensor(state.step_losses, {int64_t(state.step_losses.size())}, DType::Float64));
  save_safetensors(path, ckpt);
}

// Splits a checkpoint back into the model's, the optimizer's and the scheduler's state.
struct LoadedCheckpoint {
  StateDict model, optim, sched;
  RunState run;
};

LoadedCheckpoint load_checkpoint(const std::string& path) {
  StateDict all = load_safetensors(path);
  LoadedCheckpoint c;
  c.run = RunState::load(all.metadata());
  std::optional<Tensor> losses = all.find("run.step_losses");
  KILN_CHECK_VALUE(losses.has_value(), "checkpoint '", path, "' has no run.step_losses tensor");
  c.run.step_losses = losses->to_vector();
  for (const auto& [name, t] : all) {
    if (name.rfind("model.", 0) == 0)
      c.model.insert(name.substr(6), t);
    else if (name.rfind("optim.", 0) == 0)
      c.optim.insert(name.substr(6), t);
  }
  for (const auto& [k, v] : all.metadata()) {
    if (k.rfind("optim.", 0) == 0)
      c.optim.metadata()[k.substr(6)] = v;
    else if (k.rfind("sched.", 0) == 0)
      c.sched.metadata()[k.substr(6)] = v;
  }
  return c;
}

void write_summary(const std::string& path, const RunState& s, const std::string& dataset,
                   double seconds, double samples_per_second, const std::string& checkpoint) {
  auto q = [](const std::string& v) { return json::quote(v); };
  // JSON has no NaN or infinity: a diverged run's losses are written as null.
  auto format_double = [](double v) { return std::isfinite(v) ? cli::format_double(v) : "null"; };
  std::string j = "{\n";
  j += "  \"model\": " + q(s.model) + ",\n  \"dataset\": " + q(dataset) + ",\n";
  j += "  \"optimizer\": " + q(s.optimizer) + ",\n  \"scheduler\": " + q(s.scheduler) + ",\n";
  j += "  \"lr\": " + format_double(s.lr) + ",\n  \"batch_size\": " + std::to_string(s.batch_size) +
       ",\n  \"epochs\": " + std::to_string(s.history.size()) +
       ",\n  \"seed\": " + std::to_string(s.seed) + ",\n";
  j += "  \"seconds\": " + format_double(seconds) +
       ",\n  \"samples_per_second\": " + format_double(samples_per_second) + ",\n";
  if (!s.history.empty()) {
    j += "  \"final_test_accuracy\": " + format_double(s.history.back().test_accuracy) +
         ",\n  \"final_test_loss\": " + format_double(s.history.back().test_loss) + ",\n";
  }
  j += "  \"checkpoint\": " + q(checkpoint) + ",\n  \"history\": [\n";
  for (size_t i = 0; i < s.history.size(); ++i) {
    const EpochRecord& r = s.history[i];
    j += "    {\"epoch\": " + std::to_string(i + 1) + ", \"lr\": " + format_double(r.lr) +
         ", \"train_loss\": " + format_double(r.train_loss) +
         ", \"train_accuracy\": " + format_double(r.train_accuracy) +
         ", \"test_loss\": " + format_double(r.test_loss) +
         ", \"test_accuracy\": " + format_double(r.test_accuracy) +
         ", \"seconds\": " + format_double(r.seconds) + "}" +
         (i + 1 < s.history.size() ? "," : "") + "\n";
  }
  j += "  ],\n  \"step_losses\": [";
  for (size_t i = 0; i < s.step_losses.size(); ++i)
    j += (i ? ", " : "") + format_double(s.step_losses[i]);
  j += "]\n}\n";
  io::write_file_atomically(path, j);
}

void write_plot(const std::string& path, const RunState& s) {
  std::vector<double> tl, vl, ta, va;
  for (const EpochRecord& r : s.history) {
    tl.push_back(r.train_loss);
    vl.push_back(r.test_loss);
    ta.push_back(r.train_accuracy);
    va.push_back(r.test_accuracy);
  }
  write_svg_plot(path, "kiln train " + s.model + ": loss and accuracy per epoch",
                 {{"train loss", tl, "#1f77b4", false},
                  {"test loss", vl, "#ff7f0e", false},
                  {"train accuracy", ta, "#2ca02c", true},
                  {"test accuracy", va, "#d62728", true}});
}

}  // namespace

int run_train(int argc, char** argv) {
  if (argc >= 3 && (std::string(argv[2]) == "--help" || std::string(argv[2]) == "-h")) {
    train_usage();
    return 0;
  }
  // Installed first: a Ctrl-C while the data loads still ends in a checkpoint, not a kill.
  interrupted.store(false);
  struct RestoreHandler {
    void (*previous)(int);
    ~RestoreHandler() { std::signal(SIGINT, previous); }
  } restore{std::signal(SIGINT, on_sigint)};
  Args args(argc, argv, 2, kOptions, {"ddp"});
  KILN_CHECK_VALUE(args.positionals().size() <= 1, "train: expected one model name, got ",
                   args.positionals().size());
  const bool resuming = args.has("resume");
  LoadedCheckpoint resumed;
  RunState run;
  if (resuming) {
    resumed = load_checkpoint(args.get("resume", ""));
    run = resumed.run;
    if (args.has("epochs") && args.get_int("epochs", run.epochs) != run.epochs) {
      // The saved schedule was built for the original length.
      KILN_CHECK_VALUE(run.scheduler == "none",
                       "train: --epochs cannot change on --resume with "
                       "scheduler '",
                       run.scheduler, "' (its schedule is fixed by the run length ", run.epochs,
                       ")");
      run.epochs = args.get_int("epochs", run.epochs);
    }
  } else {
    run.model = model_name(args.positionals().empty() ? "mlp" : args.positionals()[0],
                           args.get_int("depth", 0));
    run.data = args.get("data", default_data_dir(run.model));
    run.epochs = args.get_int("epochs", 5);
    run.batch_size = args.get_int("batch-size", 32);
    run.lr = args.get_double("lr", 0.05);
    run.optimizer = args.get("optimizer", "momentum");
    run.scheduler = args.get("scheduler", "cosine");
    run.seed = uint64_t(args.get_int("seed", 0));
  }
  KILN_CHECK_VALUE(run.epochs > 0 && run.batch_size > 0,
                   "train: --epochs and --batch-size must "
                   "be positive");
  Device device(args.get("device", default_device()));
  DdpRun ddp(args.has("ddp"), device);  // with --ddp: the process group; device = local GPU
  const std::string out = args.get("out", "runs/" + run.model);
  if (ddp.is_main()) std::filesystem::create_directories(out);
  const std::string ckpt_path = args.get("checkpoint", out + "/checkpoint.safetensors");
  const int64_t stop_after = args.get_int("stop-after-steps", -1);  // tests: a scripted Ctrl-C

  manual_seed(run.seed);
  auto model = make_model(run.model);
  model->to(device);
  Datasets data = make_datasets(run.model, run.data, run.seed);
  data::DataLoader loader = ddp.train_loader(data.train, run.batch_size, run.seed);
  const int64_t steps = loader.size();
  auto opt = make_optimizer(run.optimizer, model->parameters(), run.lr);
  auto sched = make_scheduler(run.scheduler, *opt, run.epochs, steps, run.lr);
  const bool per_batch = scheduler_steps_per_batch(run.scheduler);
  if (resuming) {
    model->load_state_dict(resumed.model);
    opt->load_state_dict(resumed.optim);
    if (sched) sched->load_state_dict(resumed.sched);
    Generator::default_generator().manual_seed(run.generator_seed);
    Generator::default_generator().set_offset(run.generator_offset);
  }
  std::shared_ptr<nn::Module> net = ddp.wrap(model);  // `model` itself without --ddp

  if (ddp.is_main())
    std::printf("kiln train %s: %s, %s (lr %g), scheduler %s, batch %lld, %lld epochs%s\n",
                run.model.c_str(), data.description.c_str(), run.optimizer.c_str(), run.lr,
                run.scheduler.c_str(), static_cast<long long>(run.batch_size),
                static_cast<long long>(run.epochs),
                resuming ? (", resumed at epoch " + std::to_string(run.epoch + 1) + " batch " +
                            std::to_string(run.batch))
                               .c_str()
                         : "");
  std::fflush(stdout);  // before the progress bar on stderr
  const auto start = std::chrono::steady_clock::now();
  int64_t samples = 0, steps_here = 0;
  model->train();
  for (; run.epoch < run.epochs; ++run.epoch, run.batch = 0) {
    const auto epoch_start = std::chrono::steady_clock::now();
    ProgressBar bar(run.epoch + 1, run.epochs, steps, ddp.is_main() ? stderr : nullptr);
    int64_t epoch_samples = 0;
    loader.set_epoch(run.epoch);
    const double epoch_lr = opt->param_groups()[0].options.lr();
    for (auto it = loader.begin(); it != loader.end(); ++it) {
      if (it.batch_index() < run.batch) continue;  // resuming mid-epoch
      if (ddp.stop_requested(interrupted.load())) break;
      const data::Example& b = *it;
      Tensor logits = (*net)(b.input.to(device));
      Tensor target = b.target.to(device);
      Tensor loss = nn::functional::cross_entropy(logits, target);
      opt->zero_grad();
      loss.backward();
      opt->step();
      if (sched && per_batch) sched->step();
      if (++steps_here == stop_after) interrupted.store(true);
      // Summed over ranks with --ddp: every rank keeps the same RunState.
      const StepFigures f = ddp.reduce_step(
          loss.item(), b.input.size(0), int64_t(sum(eq(argmax(logits.detach(), 1), target)).item()),
          interrupted.load());
      const double l = f.loss;
      const int64_t n = f.samples;
      run.step_losses.push_back(l);
      run.loss_sum += l * double(n);
      run.correct += f.correct;
      run.seen += n;
      run.batch = it.batch_index() + 1;
      samples += n;
      epoch_samples += n;
      bar.update(run.batch, run.loss_sum / double(run.seen), double(run.correct) / double(run.seen),
                 epoch_samples);
    }
    if (ddp.stop_requested(interrupted.load())) {
      if (!ddp.is_main()) return 130;
      save_checkpoint(ckpt_path, *model, *opt, sched.get(), run);
      std::fprintf(stderr,
                   "\ninterrupted: checkpoint saved to %s (epoch %lld, batch %lld); "
                   "continue with --resume %s\n",
                   ckpt_path.c_str(), static_cast<long long>(run.epoch + 1),
                   static_cast<long long>(run.batch), ckpt_path.c_str());
      return 130;
    }
    if (sched && !per_batch) sched->step();
    Evaluation test = ddp.evaluate(*model, data.test, device);
    EpochRecord rec;
    rec.train_loss = run.loss_sum / double(std::max<int64_t>(run.seen, 1));
    rec.train_accuracy = double(run.correct) / double(std::max<int64_t>(run.seen, 1));
    rec.test_loss = test.loss;
    rec.test_accuracy = test.accuracy;
    rec.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    rec.lr = epoch_lr;
    run.history.push_back(rec);
    char extra[96];
    std::snprintf(extra, sizeof extra, "  | test loss %.4f  acc %5.2f%%", test.loss,
                  100 * test.accuracy);
    bar.finish(rec.train_loss, rec.train_accuracy, extra);
    run.loss_sum = 0;
    run.correct = run.seen = 0;
    RunState next = run;  // the checkpoint points at the start of the next epoch
    ++next.epoch;
    next.batch = 0;
    if (ddp.is_main()) save_checkpoint(ckpt_path, *model, *opt, sched.get(), next);
  }
  ddp.check_identical(*model);
  if (!ddp.is_main()) return 0;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rate = seconds > 0 ? double(samples) / seconds : 0.0;
  write_summary(out + "/summary.json", run, data.description, seconds, rate, ckpt_path);
  write_plot(out + "/curves.svg", run);
  if (!run.history.empty()) {
    std::printf("final test accuracy %.2f%% (loss %.4f), %.0f samples/s, %s\n",
                100 * run.history.back().test_accuracy, run.history.back().test_loss, rate,
                format_duration(seconds).c_str());
  }
  std::printf("wrote %s/summary.json, %s/curves.svg, %s\n", out.c_str(), out.c_str(),
              ckpt_path.c_str());
  if (ddp.enabled())
    std::printf("ddp: %d ranks, parameters identical on every rank\n", ddp.world_size());
  return 0;
}

}  // namespace kiln::cli
