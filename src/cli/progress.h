#pragma once
// A one-line progress bar for training: epoch, bar, loss, accuracy, samples/s and ETA. Redraws
// in place on a terminal; on a pipe or file it prints one line per epoch instead.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace kiln::cli {

class ProgressBar {
 public:
  // out == nullptr: draws nothing.
  ProgressBar(int64_t epoch, int64_t epochs, int64_t steps, std::FILE* out = stderr);
  // After each step: running mean loss and accuracy over the epoch so far, samples seen.
  void update(int64_t step, double loss, double accuracy, int64_t samples);
  // Ends the line with the epoch's final figures.
  void finish(double loss, double accuracy, const std::string& extra = "");

 private:
  std::string line(int64_t step, double loss, double accuracy) const;
  int64_t epoch_, epochs_, steps_;
  std::FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t samples_ = 0;
};

std::string format_duration(double seconds);  // "1m05s", "12s"

}  // namespace kiln::cli
