#include "cli/run_state.h"

#include <cstdio>
#include <sstream>

#include "kiln/error.h"

namespace kiln::cli {

std::string format_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

namespace {

std::string join(const std::vector<double>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + format_double(v[i]);
  return s;
}

std::vector<double> split(const std::string& s) {
  std::vector<double> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stod(item));
  return out;
}

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
  m["run.step_losses"] = join(step_losses);
  std::vector<double> flat;
  for (const EpochRecord& r : history)
    flat.insert(flat.end(),
                {r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.seconds, r.lr});
  m["run.history"] = join(flat);
}

RunState RunState::load(const std::map<std::string, std::string>& m) {
  RunState s;
  try {
    s.model = need(m, "run.model");
    s.optimizer = need(m, "run.optimizer");
    s.scheduler = need(m, "run.scheduler");
    s.data = need(m, "run.data");
    s.lr = std::stod(need(m, "run.lr"));
    s.batch_size = std::stoll(need(m, "run.batch_size"));
    s.epochs = std::stoll(need(m, "run.epochs"));
    s.seed = std::stoull(need(m, "run.seed"));
    s.epoch = std::stoll(need(m, "run.epoch"));
    s.batch = std::stoll(need(m, "run.batch"));
    s.generator_seed = std::stoull(need(m, "run.generator_seed"));
    s.generator_offset = std::stoull(need(m, "run.generator_offset"));
    s.loss_sum = std::stod(need(m, "run.loss_sum"));
    s.correct = std::stoll(need(m, "run.correct"));
    s.seen = std::stoll(need(m, "run.seen"));
    s.step_losses = split(need(m, "run.step_losses"));
    std::vector<double> flat = split(need(m, "run.history"));
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
