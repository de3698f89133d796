// The `kiln` program end to end: determinism, Ctrl-C and resume bit for bit, the MNIST
// acceptance run, eval and info. Runs the built binary (KILN_CLI_PATH).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "kiln/io/file.h"
#include "test_util.h"

extern char** environ;

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

using Result = CommandResult;

// One OpenMP thread per kiln process: ctest runs two tests at once on two cores, and
// oversubscribed OpenMP workers spin against each other (a run took 4x as long).
constexpr const char* kOneThread = "OMP_NUM_THREADS=1";

// Runs the kiln binary with `args`, capturing stdout and stderr.
Result kiln_run(const std::vector<std::string>& args) {
  return run_command(std::string(kOneThread) + " " + KILN_CLI_PATH, args);
}

fs::path scratch(const std::string& name) { return scratch_dir("kiln_cli_" + name); }

// A field of summary.json, as the exact text written (%.17g numbers): an array up to its
// closing bracket, a scalar up to the next comma or line end. (Plain string search: libstdc++'s
// recursive std::regex overflows the stack on the long step_losses line.)
std::string json_field(const std::string& json, const std::string& key) {
  const std::string tag = "\"" + key + "\": ";
  size_t begin = json.find(tag);
  if (begin == std::string::npos) return "";
  begin += tag.size();
  size_t end = json[begin] == '[' ? json.find(']', begin) + 1 : json.find_first_of(",\n}", begin);
  return json.substr(begin, end - begin);
}

std::string summary(const fs::path& dir) { return io::read_file((dir / "summary.json").string()); }

TEST(Cli, SameSeedGivesBitIdenticalLosses) {
  fs::path a = scratch("det_a"), b = scratch("det_b");
  Result ra = kiln_run({"train", "mlp", "--epochs", "1", "--seed", "3", "--out", a.string()});
  Result rb = kiln_run({"train", "mlp", "--epochs", "1", "--seed", "3", "--out", b.string()});
  ASSERT_EQ(ra.code, 0) << ra.output;
  ASSERT_EQ(rb.code, 0) << rb.output;
  std::string la = json_field(summary(a), "step_losses");
  ASSERT_GT(la.size(), 100u);
  EXPECT_EQ(la, json_field(summary(b), "step_losses"));
  // A different seed gives a different run.
  fs::path c = scratch("det_c");
  ASSERT_EQ(kiln_run({"train", "mlp", "--epochs", "1", "--seed", "4", "--out", c.string()}).code,
            0);
  EXPECT_NE(la, json_field(summary(c), "step_losses"));
  EXPECT_TRUE(fs::exists(a / "curves.svg"));
  EXPECT_NE(io::read_file((a / "curves.svg").string()).find("<svg"), std::string::npos);
}

// Interrupted mid-epoch, resumed: the same losses and the same final weights, bit for bit.
TEST(Cli, InterruptedAndResumedRunEqualsUninterruptedRun) {
  fs::path full = scratch("full"), part = scratch("part");
  const std::vector<std::string> common = {"train", "mlp",         "--epochs", "2",    "--seed",
                                           "5",     "--optimizer", "adam",     "--lr", "0.002"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> v = common;
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  };
  Result r1 = kiln_run(with({"--out", full.string()}));
  ASSERT_EQ(r1.code, 0) << r1.output;
  Result r2 = kiln_run(with({"--out", part.string(), "--stop-after-steps", "330"}));
  ASSERT_EQ(r2.code, 130) << r2.output;  // 250 steps per epoch: stopped inside epoch 2
  EXPECT_NE(r2.output.find("interrupted: checkpoint saved"), std::string::npos) << r2.output;
  const std::string ckpt = (part / "checkpoint.safetensors").string();
  Result r3 = kiln_run({"train", "--resume", ckpt, "--out", part.string()});
  ASSERT_EQ(r3.code, 0) << r3.output;
  EXPECT_NE(r3.output.find("resumed at epoch 2 batch 80"), std::string::npos) << r3.output;
  EXPECT_EQ(json_field(summary(full), "step_losses"), json_field(summary(part), "step_losses"));
  EXPECT_EQ(json_field(summary(full), "final_test_loss"),
            json_field(summary(part), "final_test_loss"));
  StateDict a = load_safetensors((full / "checkpoint.safetensors").string());
  StateDict b = load_safetensors(ckpt);
  ASSERT_EQ(a.keys(), b.keys());
  for (const auto& [name, t] : a) EXPECT_TRUE(equal(t, b.at(name))) << name;
}

// A real Ctrl-C: the process saves a checkpoint and exits with 130.
TEST(Cli, SigintSavesACheckpointAndExitsCleanly) {
  fs::path dir = scratch("sigint");
  std::string out = dir.string(), log = (dir / "log.txt").string();
  std::vector<std::string> args = {KILN_CLI_PATH, "train", "mlp", "--epochs", "200", "--out", out};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  std::vector<char*> env;
  std::string one_thread = kOneThread;
  for (char** e = environ; *e; ++e) env.push_back(*e);
  env.push_back(one_thread.data());
  env.push_back(nullptr);
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), env.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  std::string output = io::read_file(log);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by a signal instead of exiting: " << output;
  EXPECT_EQ(WEXITSTATUS(status), 130) << output;
  StateDict ckpt = load_safetensors((dir / "checkpoint.safetensors").string());
  EXPECT_TRUE(ckpt.contains("model.1.weight"));
  EXPECT_EQ(ckpt.metadata().at("run.model"), "mlp");
}

// Acceptance: an MLP on the real MNIST test set (first 8,000 train, last 2,000 test) reaches at
// least 96% test accuracy within 5 epochs on the CPU.
TEST(Cli, MnistMlpReaches96PercentIn5Epochs) {
  const fs::path data = fs::path(KILN_SOURCE_DIR) / ".." / "shared" / "data" / "mnist-t10k";
  if (!fs::exists(data / "t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "MNIST test set not found at " << data << ": acceptance run skipped";
  fs::path out = scratch("mnist");
  Result r =
      kiln_run({"train", "mlp", "--data", data.string(), "--epochs", "5", "--out", out.string()});
  ASSERT_EQ(r.code, 0) << r.output;
  double acc = std::stod(json_field(summary(out), "final_test_accuracy"));
  EXPECT_GE(acc, 0.96) << r.output;
  // kiln eval reproduces the final test accuracy from the checkpoint.
  Result e = kiln_run({"eval", "mlp", "--checkpoint", (out / "checkpoint.safetensors").string()});
  ASSERT_EQ(e.code, 0) << e.output;
  char expected[32];
  std::snprintf(expected, sizeof expected, "accuracy %.2f%%", 100 * acc);
  EXPECT_NE(e.output.find(expected), std::string::npos) << e.output << " vs " << expected;
}

TEST(Cli, InfoAndErrors) {
  Result info = kiln_run({"info"});
  ASSERT_EQ(info.code, 0);
  EXPECT_NE(info.output.find("kiln 0.1.0"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("blas:"), std::string::npos);
  EXPECT_NE(info.output.find("threads:"), std::string::npos);
  EXPECT_NE(info.output.find("cpu"), std::string::npos);
  Result bad = kiln_run({"train", "mlp", "--optimizer", "lbfgs", "--epochs", "1"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("unknown optimizer 'lbfgs'"), std::string::npos) << bad.output;
  Result unknown = kiln_run({"train", "--epochz", "3"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.output.find("unknown option --epochz"), std::string::npos);
  Result missing = kiln_run({"train", "--resume", "/nonexistent/ckpt.safetensors"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("/nonexistent/ckpt.safetensors"), std::string::npos);
  EXPECT_EQ(kiln_run({"frobnicate"}).code, 2);
}

}  // namespace
}  // namespace kiln::testing
