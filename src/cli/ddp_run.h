#pragma once
// `kiln train --ddp`: what changes when the training runs as one rank of an `mpirun -np N` job.
// The process group ("mpi" for the CPU, "nccl" for CUDA, one GPU per local rank), the model
// wrapped in DistributedDataParallel, each rank's shard of the training set
// (DistributedSampler), the per-step figures summed over ranks so that every rank keeps the same
// RunState (and stops at the same step after Ctrl-C), the test set evaluated in shards, and a
// final check that every rank ends with the same weights. Without --ddp every member is the
// identity and the run is the single-process one.
#include <cstdint>
#include <memory>

#include "cli/setup.h"
#include "kiln/data/data.h"
#include "kiln/nn/module.h"

namespace kiln::cli {

struct StepFigures {
  double loss = 0;  // mean over the step's samples (all ranks')
  int64_t samples = 0, correct = 0;
};

class DdpRun {
 public:
  // With `enabled`, initialises the default group for `device` and, for CUDA, makes `device`
  // this local rank's GPU.
  DdpRun(bool enabled, Device& device);
  ~DdpRun();  // destroys the group
  DdpRun(const DdpRun&) = delete;
  DdpRun& operator=(const DdpRun&) = delete;

  bool enabled() const { return enabled_; }
  int rank() const { return rank_; }
  int world_size() const { return world_; }
  // Rank 0 (or no --ddp): the process that prints and writes files.
  bool is_main() const { return rank_ == 0; }

  // `model` wrapped in DistributedDataParallel (its parameters broadcast from rank 0), or
  // `model` itself.
  std::shared_ptr<nn::Module> wrap(std::shared_ptr<nn::Module> model) const;
  // The loader of the training set: shuffled per (seed, epoch), and with --ddp this rank's
  // DistributedSampler shard (equal lengths on every rank).
  data::DataLoader train_loader(std::shared_ptr<const data::Dataset> train, int64_t batch_size,
                                uint64_t seed) const;
  // One step's figures over all ranks; also agrees on `stop` (any rank interrupted).
  StepFigures reduce_step(double loss, int64_t samples, int64_t correct, bool stop);
  // Whether to stop before the next step: the interrupt flag, or with --ddp the agreed one.
  bool stop_requested(bool interrupted) const { return enabled_ ? stop_ : interrupted; }
  // The test set: evaluated in shards with --ddp, the figures combined over ranks.
  Evaluation evaluate(nn::Module& model, std::shared_ptr<const data::Dataset> test,
                      Device device) const;
  // Raises when some parameter differs between ranks (DDP keeps them identical).
  void check_identical(const nn::Module& model) const;

 private:
  bool enabled_;
  int rank_ = 0, world_ = 1;
  Device device_;  // where the per-step figures are reduced (GPU memory for NCCL)
  bool stop_ = false;
};

}  // namespace kiln::cli
