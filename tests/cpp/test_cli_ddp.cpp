// `mpirun -np 2 kiln train mlp --ddp`: the job runs, rank 0 alone writes the outputs, the
// ranks end with identical weights (the program checks it with a max/min all-reduce over every
// parameter and says so), and a run interrupted (a scripted Ctrl-C on every rank) and resumed
// with --ddp equals the uninterrupted one bit for bit (the ranks kept one RunState).
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "kiln/io/file.h"
#include "kiln/io/safetensors.h"
#include "test_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

using Result = CommandResult;

#ifdef KILN_MPIEXEC
#define KILN_SKIP_WITHOUT_MPI() (void)0
#else
#define KILN_MPIEXEC "mpiexec"
#define KILN_SKIP_WITHOUT_MPI() GTEST_SKIP() << "built without MPI: no kiln train --ddp"
#endif

// Two ranks of the kiln binary, one OpenMP thread each (two cores for the whole job).
Result mpirun_kiln(const std::vector<std::string>& args) {
  return run_command(std::string("OMP_NUM_THREADS=1 ") + KILN_MPIEXEC +
                         " --allow-run-as-root --oversubscribe -np 2 " + KILN_CLI_PATH,
                     args);
}

fs::path scratch(const std::string& name) { return scratch_dir("kiln_cli_ddp_" + name); }

std::string step_losses(const fs::path& dir) {
  const std::string json = io::read_file((dir / "summary.json").string());
  const size_t begin = json.find("\"step_losses\": [");
  if (begin == std::string::npos) return "";
  return json.substr(begin, json.find(']', begin) - begin);
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(CliDdp, TwoRanksTrainWithIdenticalWeights) {
  KILN_SKIP_WITHOUT_MPI();
  const fs::path dir = scratch("run");
  Result r = mpirun_kiln(
      {"train", "mlp", "--ddp", "--epochs", "1", "--device", "cpu", "--out", dir.string()});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(count(r.output, "ddp: 2 ranks, parameters identical on every rank"), 1u) << r.output;
  EXPECT_EQ(count(r.output, "kiln train mlp:"), 1u) << "only rank 0 prints:\n" << r.output;
  // 8000 examples, 4000 per rank in batches of 32: 125 steps, each logged once.
  EXPECT_EQ(count(step_losses(dir), ","), 124u);
  StateDict ckpt = load_safetensors((dir / "checkpoint.safetensors").string());
  EXPECT_TRUE(ckpt.find("model.1.weight").has_value());  // the inner model's names
}

TEST(CliDdp, InterruptedAndResumedEqualsUninterrupted) {
  KILN_SKIP_WITHOUT_MPI();
  const fs::path full = scratch("full"), cut = scratch("cut");
  const std::vector<std::string> common{"train",    "mlp", "--ddp",        "--epochs", "2",
                                        "--device", "cpu", "--batch-size", "64"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = common;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  Result a = mpirun_kiln(with({"--out", full.string()}));
  ASSERT_EQ(a.code, 0) << a.output;
  Result b = mpirun_kiln(with({"--out", cut.string(), "--stop-after-steps", "40"}));
  EXPECT_NE(b.code, 0) << b.output;  // 130 from every rank
  EXPECT_NE(b.output.find("interrupted: checkpoint saved"), std::string::npos) << b.output;
  Result c = mpirun_kiln({"train", "--ddp", "--device", "cpu", "--out", cut.string(), "--resume",
                          (cut / "checkpoint.safetensors").string()});
  ASSERT_EQ(c.code, 0) << c.output;
  const std::string losses = step_losses(full);
  ASSERT_GT(losses.size(), 100u);
  EXPECT_EQ(step_losses(cut), losses);
}

}  // namespace
}  // namespace kiln::testing
