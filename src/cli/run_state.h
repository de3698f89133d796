#pragma once
// The state of a training run that a checkpoint carries besides the model and optimizer: where
// the run is (epoch, batch), the random generator, the partial epoch's running sums, the
// history so far and the options it was started with. Saved with full precision so that a
// resumed run continues bit for bit.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::cli {

struct EpochRecord {
  double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0, seconds = 0;
  double lr = 0;
};

struct RunState {
  // Options the run was started with (a resumed run keeps them).
  std::string model, optimizer, scheduler, data;
  double lr = 0;
  int64_t batch_size = 0, epochs = 0;
  uint64_t seed = 0;
  // Position: the next batch to run.
  int64_t epoch = 0, batch = 0;
  uint64_t generator_seed = 0, generator_offset = 0;
  // Running sums of the epoch in progress.
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  std::vector<double> step_losses;  // saved as the F64 tensor "run.step_losses", not metadata
  std::vector<EpochRecord> history;

  void save(std::map<std::string, std::string>& meta) const;             // "run.*" keys
  static RunState load(const std::map<std::string, std::string>& meta);  // throws when absent
};

std::string format_double(double v);  // %.17g: round-trips exactly

}  // namespace kiln::cli
