#include "cli/progress.h"

#include <unistd.h>

#include <cmath>

namespace kiln::cli {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  auto s = int64_t(std::lround(seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  return buf;
}

ProgressBar::ProgressBar(int64_t epoch, int64_t epochs, int64_t steps, std::FILE* out)
    : epoch_(epoch),
      epochs_(epochs),
      steps_(steps),
      out_(out),
      tty_(out != nullptr && isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string ProgressBar::line(int64_t step, double loss, double accuracy) const {
  constexpr int kWidth = 24;
  double frac = steps_ > 0 ? double(step) / double(steps_) : 1.0;
  int filled = int(frac * kWidth);
  std::string bar(size_t(filled), '#');
  bar.resize(kWidth, '.');
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? double(samples_) / elapsed : 0.0;
  double eta = frac > 0 ? elapsed * (1 - frac) / frac : NAN;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "epoch %lld/%lld [%s] %lld/%lld  loss %.4f  acc %5.1f%%  %.0f samples/s  ETA %s",
                static_cast<long long>(epoch_), static_cast<long long>(epochs_), bar.c_str(),
                static_cast<long long>(step), static_cast<long long>(steps_), loss, 100 * accuracy,
                rate, format_duration(eta).c_str());
  return buf;
}

void ProgressBar::update(int64_t step, double loss, double accuracy, int64_t samples) {
  samples_ = samples;
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (step < steps_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::fprintf(out_, "\r%s\033[K", line(step, loss, accuracy).c_str());
  std::fflush(out_);
}

void ProgressBar::finish(double loss, double accuracy, const std::string& extra) {
  if (!out_) return;  // a silent bar (the other ranks of kiln train --ddp)
  std::fprintf(out_, "%s%s%s\n", tty_ ? "\r" : "", line(steps_, loss, accuracy).c_str(),
               extra.c_str());
  std::fflush(out_);
}

}  // namespace kiln::cli
