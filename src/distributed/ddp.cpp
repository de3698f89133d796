// DistributedDataParallel: construction (parameter check across ranks, broadcast from rank 0),
// forward (buffer broadcast, arming the reducer) and no_sync. The gradient buckets are in
// ddp_reducer.cpp.
#include "kiln/distributed/ddp.h"

#include "distributed/ddp_reducer.h"
#include "kiln/autograd.h"
#include "kiln/cuda.h"
#include "kiln/ops.h"
#include "kiln/random.h"

namespace kiln::distributed {

namespace {

// What must agree across ranks for DDP: per parameter, its dtype and shape. Encoded as
// [count, then per parameter: dtype, ndim, dims...] so one uneven all_gather exchanges it.
std::vector<double> describe(const nn::NamedTensors& params) {
  std::vector<double> d{double(params.size())};
  for (const auto& [name, p] : params) {
    d.push_back(double(int(p.dtype())));
    d.push_back(double(p.dim()));
    for (int64_t s : p.shape()) d.push_back(double(s));
  }
  return d;
}

struct Described {
  DType dtype;
  Shape shape;
};

std::vector<Described> parse(const std::vector<double>& d) {
  std::vector<Described> out;
  size_t at = 1;
  for (int64_t i = 0; i < int64_t(d.at(0)); ++i) {
    Described p{DType(int(d.at(at))), {}};
    const auto ndim = int64_t(d.at(at + 1));
    at += 2;
    for (int64_t k = 0; k < ndim; ++k) p.shape.push_back(int64_t(d.at(at++)));
    out.push_back(std::move(p));
  }
  return out;
}

// Where the group's collectives take their tensors: GPU memory for NCCL, host memory for MPI.
Device group_device(const ProcessGroup& pg) {
  return pg.backend_name() == "nccl" ? Device::cuda(cuda::current_device()) : Device::cpu();
}

// torch's _verify_param_shape_across_processes: every rank gathers every rank's description
// and compares it with rank 0's, so all ranks raise the same error together.
void verify_same_parameters(ProcessGroup& pg, const nn::NamedTensors& params) {
  const TensorOptions opts(DType::Float64, group_device(pg));
  std::vector<double> mine = describe(params);
  Tensor len = tensor(std::vector<double>{double(mine.size())}, {1}, opts);
  std::vector<Tensor> lens;
  for (int r = 0; r < pg.size(); ++r) lens.push_back(zeros({1}, opts));
  pg.all_gather(lens, len)->wait();
  std::vector<Tensor> all;
  for (int r = 0; r < pg.size(); ++r) all.push_back(zeros({int64_t(lens[size_t(r)].item())}, opts));
  pg.all_gather(all, tensor(mine, {int64_t(mine.size())}, opts))->wait();
  const std::vector<Described> root = parse(all[0].to_vector());
  for (int r = 1; r < pg.size(); ++r) {
    const std::vector<Described> other = parse(all[size_t(r)].to_vector());
    KILN_CHECK_VALUE(other.size() == root.size(), "DistributedDataParallel: rank 0 has ",
                     root.size(), " parameters but rank ", r, " has ", other.size(),
                     "; every rank must wrap the same model");
    for (size_t i = 0; i < root.size(); ++i) {
      KILN_CHECK_VALUE(other[i].shape == root[i].shape && other[i].dtype == root[i].dtype,
                       "DistributedDataParallel: parameter ", i, " ('", params[i].first,
                       "' on rank ", pg.rank(), ") is ", dtype_name(root[i].dtype), " ",
                       shape_str(root[i].shape), " on rank 0 but ", dtype_name(other[i].dtype), " ",
                       shape_str(other[i].shape), " on rank ", r,
                       "; every rank must wrap the same model");
    }
  }
}

}  // namespace

void broadcast_tensors(ProcessGroup& pg, const std::vector<Tensor>& tensors, int root) {
  NoGradGuard no_grad;
  std::vector<std::pair<Tensor, Tensor>> staged;  // (target, contiguous buffer)
  std::vector<WorkPtr> works;
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    Tensor buf = t.is_contiguous() ? t : t.contiguous();
    works.push_back(pg.broadcast(buf, root));
    if (!buf.is_same(t)) staged.emplace_back(t, buf);
  }
  for (auto& w : works) w->wait();
  for (auto& [target, buf] : staged) target.copy_(buf);
}

uint64_t seed_per_rank(uint64_t seed) {
  const uint64_t s = seed + uint64_t(get_rank());
  manual_seed(s);
  return s;
}

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                                 DDPOptions options)
    : Module("DistributedDataParallel"), options_(std::move(options)) {
  KILN_CHECK_VALUE(module != nullptr, "DistributedDataParallel: the module is null");
  KILN_CHECK_VALUE(options_.bucket_cap_mb > 0,
                   "DistributedDataParallel: bucket_cap_mb must be positive, got ",
                   options_.bucket_cap_mb);
  module_ = register_module("module", std::move(module));
  pg_ = options_.process_group ? options_.process_group : default_group();

  const nn::NamedTensors named = module_->named_parameters();
  verify_same_parameters(*pg_, named);
  std::vector<Tensor> state;
  for (const auto& [name, p] : named) state.push_back(p);
  for (const auto& [name, b] : module_->named_buffers()) state.push_back(b);
  broadcast_tensors(*pg_, state, 0);

  std::vector<std::pair<std::string, Tensor>> trained;
  for (const auto& [name, p] : named)
    if (p.requires_grad()) trained.emplace_back(name, p);
  const auto cap = size_t(options_.bucket_cap_mb * 1024 * 1024);
  reducer_ = std::make_unique<Reducer>(std::move(trained), pg_, std::max<size_t>(cap, 1),
                                       options_.find_unused_parameters);
}

DistributedDataParallel::~DistributedDataParallel() = default;

void DistributedDataParallel::sync_buffers() {
  std::vector<Tensor> buffers = module_->buffers();
  if (buffers.empty() || pg_->size() == 1) return;
  broadcast_tensors(*pg_, buffers, 0);
}

Tensor DistributedDataParallel::forward(const Tensor& input) {
  // As torch: buffers follow rank 0 in training (BatchNorm's running statistics would drift
  // apart otherwise); every rank is in the same mode, so every rank joins the broadcasts.
  if (options_.broadcast_buffers && is_training() && GradMode::is_enabled()) sync_buffers();
  Tensor out = module_->forward(input);
  if (GradMode::is_enabled() && sync_)
    reducer_->prepare_for_backward({out});
  else
    reducer_->disarm();
  return out;
}

std::vector<std::vector<size_t>> DistributedDataParallel::bucket_assignment() const {
  return reducer_->bucket_assignment();
}

const ReductionStats& DistributedDataParallel::last_reduction() const {
  return reducer_->last_reduction();
}

DistributedDataParallel::NoSyncGuard::NoSyncGuard(DistributedDataParallel& ddp)
    : ddp_(ddp), previous_(ddp.sync_) {
  ddp_.sync_ = false;
}

DistributedDataParallel::NoSyncGuard::~NoSyncGuard() { ddp_.sync_ = previous_; }

}  // namespace kiln::distributed
