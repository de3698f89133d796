#pragma once
// DistributedDataParallel: data-parallel training of one module replicated on every rank of a
// process group (torch.nn.parallel.DistributedDataParallel).
//
//   kiln::distributed::init_process_group("mpi");           // under mpirun -np N
//   auto ddp = std::make_shared<DistributedDataParallel>(model);
//   optim::SGD opt(ddp->parameters(), {.lr = 0.1});
//   for (...) {                      // each rank its own shard (data::DistributedSampler)
//     Tensor loss = loss_fn((*ddp)(x), y);
//     opt.zero_grad();
//     loss.backward();               // returns with every .grad = mean over ranks
//     opt.step();                    // identical on every rank: parameters stay identical
//   }
//
// Move the module to its device and dtype before wrapping it (the buckets are allocated then),
// and wrap it on every rank at the same point (construction is collective).
//
// Construction checks that every rank has the same parameters (count, shapes, dtypes: an error
// naming the first difference otherwise) and broadcasts parameters and buffers from rank 0.
// Gradients are grouped into buckets of about bucket_cap_mb, filled in reverse registration
// order (roughly the order backward produces them); a bucket's all-reduce starts (asynchronously,
// on the group's communication thread or stream) as soon as the gradients of all its parameters
// have been accumulated, so communication overlaps the rest of backward. When backward has
// finished, the buckets are waited for and each .grad becomes sum over ranks / world size.
// Buckets are all-reduced in a fixed order on every rank (a bucket waits for the ones before
// it), so ranks never disagree about which collective comes next.
//
// The mean over ranks of the per-rank gradients is the gradient of the mean of the per-rank
// losses. With equal per-rank batches and a mean-reduced loss that is the full-batch gradient;
// with uneven batches, scale each rank's loss (e.g. sum of its sample losses * world_size /
// global batch) so that the mean over ranks is the loss you want.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/distributed/process_group.h"
#include "kiln/nn/module.h"
#include "kiln/tensor.h"

namespace kiln::distributed {

struct DDPOptions {
  // Bucket size in MiB (torch's default 25): fewer, larger all-reduces vs earlier overlap.
  double bucket_cap_mb = 25;
  // Parameters that get no gradient in an iteration are an error (naming them) unless set;
  // when set, each forward finds the parameters its output does not depend on, and their
  // current .grad (zeros when undefined) joins the all-reduce so that ranks stay in step. A
  // parameter no rank used keeps its .grad untouched.
  bool find_unused_parameters = false;
  // Buffers (BatchNorm running statistics) are broadcast from rank 0 before each forward in
  // training mode with grad enabled, so every rank uses rank 0's.
  bool broadcast_buffers = true;
  // The group to use; the default group (init_process_group) when null.
  std::shared_ptr<ProcessGroup> process_group = nullptr;
};

class Reducer;  // src/distributed/ddp_reducer.h

// How the last synchronised backward reduced its gradients.
struct ReductionStats {
  size_t buckets = 0;
  // Buckets whose all-reduce started before the pass's last gradient was ready: communication
  // that overlapped the rest of backward.
  size_t started_before_last_gradient = 0;
  // Seconds spent waiting for the all-reduces after backward had finished (not hidden).
  double wait_seconds = 0;
};

class DistributedDataParallel : public nn::Module {
 public:
  // Wraps `module` (registered as the child "module": state_dict keys are "module.<name>" as in
  // torch). Collective: every rank must construct it at the same point.
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, DDPOptions options = {});
  ~DistributedDataParallel() override;

  // The wrapped module's forward. In training mode, synchronises buffers first (see
  // broadcast_buffers); with grad enabled and outside no_sync(), arms the gradient hooks so
  // that the next backward all-reduces.
  Tensor forward(const Tensor& input) override;

  const std::shared_ptr<nn::Module>& module() const { return module_; }
  ProcessGroup& process_group() const { return *pg_; }
  const DDPOptions& options() const { return options_; }

  // For each bucket, in all-reduce order, the indices (into module()->parameters(), those that
  // require grad) of its parameters.
  std::vector<std::vector<size_t>> bucket_assignment() const;
  const ReductionStats& last_reduction() const;

  // While a guard is alive, backward only accumulates gradients locally (gradient
  // accumulation); the first synchronised backward after it all-reduces the accumulated .grad.
  // Forwards and backwards must both happen inside the guard for the iterations to skip.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& ddp);
    ~NoSyncGuard();
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*this); }
  bool require_backward_grad_sync() const { return sync_; }

 private:
  void sync_buffers();

  std::shared_ptr<nn::Module> module_;
  DDPOptions options_;
  std::shared_ptr<ProcessGroup> pg_;
  std::unique_ptr<Reducer> reducer_;
  bool sync_ = true;
};

// Broadcasts `tensors` from `root` to every rank of `pg` in place (non-contiguous tensors through
// a contiguous copy), all started before any is waited for. Collective.
void broadcast_tensors(ProcessGroup& pg, const std::vector<Tensor>& tensors, int root = 0);

// Seeds the global generator with seed + rank of the default group (seed when there is none):
// dropout masks and other random draws then differ between ranks, while DDP keeps the
// parameters identical by broadcasting rank 0's at construction. Returns the seed used.
uint64_t seed_per_rank(uint64_t seed);

}  // namespace kiln::distributed
