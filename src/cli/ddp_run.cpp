#include "cli/ddp_run.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "kiln/cuda.h"
#include "kiln/data/distributed_sampler.h"
#include "kiln/distributed/ddp.h"
#include "kiln/kiln.h"

namespace kiln::cli {

namespace {

// The rank among this machine's processes, as mpirun exports it (0 when not under mpirun).
int local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"}) {
    if (const char* v = std::getenv(name)) return std::atoi(v);
  }
  return 0;
}

// Sums `values` over the ranks of the default group (through `device`: NCCL reduces GPU memory).
std::vector<double> sum_over_ranks(const std::vector<double>& values, Device device) {
  Tensor t = tensor(values, {int64_t(values.size())}, DType::Float64).to(device);
  distributed::default_group()->all_reduce(t)->wait();
  return t.to_vector();
}

}  // namespace

DdpRun::DdpRun(bool enabled, Device& device) : enabled_(enabled) {
  if (!enabled_) return;
  if (device.is_cuda()) {
    const int devices = cuda::device_count();
    KILN_CHECK(devices > 0, "train --ddp: --device ", device.str(), " but no GPU is visible");
    device = Device::cuda(local_rank() % devices);  // one GPU per local rank
    cuda::set_device(device.index);
  }
  distributed::init_process_group(device.is_cuda() ? "nccl" : "mpi");
  rank_ = distributed::get_rank();
  world_ = distributed::get_world_size();
  device_ = device;
}

DdpRun::~DdpRun() {
  if (enabled_ && distributed::is_initialized()) distributed::destroy_process_group();
}

std::shared_ptr<nn::Module> DdpRun::wrap(std::shared_ptr<nn::Module> model) const {
  if (!enabled_) return model;
  return std::make_shared<distributed::DistributedDataParallel>(std::move(model));
}

data::DataLoader DdpRun::train_loader(std::shared_ptr<const data::Dataset> train,
                                      int64_t batch_size, uint64_t seed) const {
  const int64_t n = train->size();
  data::DataLoader loader(std::move(train), batch_size, /*shuffle=*/!enabled_, seed);
  if (enabled_)
    loader.set_sampler(
        std::make_shared<data::DistributedSampler>(n, world_, rank_, /*shuffle=*/true, seed));
  return loader;
}

StepFigures DdpRun::reduce_step(double loss, int64_t samples, int64_t correct, bool stop) {
  if (!enabled_) return {loss, samples, correct};
  const std::vector<double> s = sum_over_ranks(
      {loss * double(samples), double(samples), double(correct), stop ? 1.0 : 0.0}, device_);
  stop_ = s[3] > 0;
  return {s[0] / std::max(s[1], 1.0), int64_t(s[1]), int64_t(s[2])};
}

Evaluation DdpRun::evaluate(nn::Module& model, std::shared_ptr<const data::Dataset> test,
                            Device device) const {
  if (!enabled_) return cli::evaluate(model, std::move(test), device);
  std::vector<int64_t> mine;
  for (int64_t i = rank_; i < test->size(); i += world_) mine.push_back(i);
  const auto n = double(mine.size());
  Evaluation local;
  if (!mine.empty())
    local = cli::evaluate(model, std::make_shared<data::Subset>(std::move(test), mine), device);
  const std::vector<double> s = sum_over_ranks({local.loss * n, local.accuracy * n, n}, device_);
  return {s[0] / std::max(s[2], 1.0), s[1] / std::max(s[2], 1.0)};
}

void DdpRun::check_identical(const nn::Module& model) const {
  if (!enabled_) return;
  std::vector<Tensor> flat;
  for (const Tensor& p : model.parameters())
    flat.push_back(p.detach().reshape({-1}).to(DType::Float64));
  if (flat.empty()) return;
  Tensor hi = cat(flat), lo = hi.clone();
  auto group = distributed::default_group();
  group->all_reduce(hi, distributed::ReduceOp::Max)->wait();
  group->all_reduce(lo, distributed::ReduceOp::Min)->wait();
  const double spread = max(hi - lo).item();
  KILN_CHECK(spread == 0, "train --ddp: the parameters differ between the ", world_,
             " ranks after training (largest difference ", spread, ")");
}

}  // namespace kiln::cli
