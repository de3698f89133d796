#include "cli/run_state.h"

#include <cstdio>
#include <sstream>

#include "io/metadata.h"
#include "kiln/error.h"

namespace kiln::cli {

std::string format_double(double v) { return io::format_double(v); }

namespace {

const std::string& need(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  KILN_CHECK_VALUE(it != meta.end(), "checkpoint: no '", key,
                   "' entry: this is not a checkpoint written by kiln train");
  return it->second;
}

}  // namespace

void RunState::save(std::map<std::string, std::string>& m) const {
  m["run.model"] = model;
  m["run.optimizer"] = optimizer;
  m["run.scheduler"] = scheduler;
  m["run.data"] = data;
  m["run.lr"] = format_double(lr);
  m["run.batch_size"] = std::to_string(batch_size);
  m["run.epochs"] = std::to_string(epochs);
  m["run.seed"] = std::to_string(seed);
  m["run.epoch"] = std::to_string(epoch);
  m["run.batch"] = std::to_string(batch);
  m["run.generator_seed"] = std::to_string(generator_seed);
  m["run.generator_offset"] = std::to_string(generator_offset);
  m["run.loss_sum"] = format_double(loss_sum);
  m["run.correct"] = std::to_string(correct);
  m["run.seen"] = std::to_string(seen);
  std::vector<double> flat;
  for (const EpochRecord& r : history)
    flat.insert(flat.end(),
                {r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.seconds, r.lr});
  m["run.history"] = io::format_doubles(flat);
}

RunState RunState::load(const std::map<std::string, std::string>& m) {
  RunState s;
  try {
    s.model = need(m, "run.model");
    s.optimizer = need(m, "run.optimizer");
    s.scheduler = need(m, "run.scheduler");
    s.data = need(m, "run.data");
    s.lr = io::parse_double("run.lr", need(m, "run.lr"));
    s.batch_size = io::parse_int("run.batch_size", need(m, "run.batch_size"));
    s.epochs = io::parse_int("run.epochs", need(m, "run.epochs"));
    s.seed = uint64_t(io::parse_int("run.seed", need(m, "run.seed")));
    s.epoch = io::parse_int("run.epoch", need(m, "run.epoch"));
    s.batch = io::parse_int("run.batch", need(m, "run.batch"));
    s.generator_seed = std::stoull(need(m, "run.generator_seed"));  // full uint64 range
    s.generator_offset = std::stoull(need(m, "run.generator_offset"));
    s.loss_sum = io::parse_double("run.loss_sum", need(m, "run.loss_sum"));
    s.correct = io::parse_int("run.correct", need(m, "run.correct"));
    s.seen = io::parse_int("run.seen", need(m, "run.seen"));
    std::vector<double> flat = io::parse_doubles("run.history", need(m, "run.history"));
    KILN_CHECK_VALUE(flat.size() % 6 == 0, "checkpoint: malformed run.history");
    for (size_t i = 0; i < flat.size(); i += 6)
      s.history.push_back(
          {flat[i], flat[i + 1], flat[i + 2], flat[i + 3], flat[i + 4], flat[i + 5]});
  } catch (const std::logic_error&) {  // stoll/stod on a corrupted value
    throw ValueError("checkpoint: a run.* entry is not a number");
  }
  return s;
}

}  // namespace kiln::cli
