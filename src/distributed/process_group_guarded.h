#pragma once
// What every process group does around its backend: argument checks shared by MPI and NCCL,
// per-group sequence numbers, checked mode (the ranks compare what they are about to do) and the
// watchdog. init_process_group returns the backend wrapped in a GuardedGroup.
#include <atomic>
#include <memory>
#include <string>

#include "distributed/process_group_signature.h"
#include "distributed/process_group_watchdog.h"
#include "kiln/distributed/process_group.h"

namespace kiln::distributed::detail {

class GuardedGroup : public ProcessGroup {
 public:
  // `meta` carries checked mode's exchanges: a CPU (MPI) group of the same ranks, which may be
  // `inner` itself.
  GuardedGroup(std::shared_ptr<ProcessGroup> inner, std::shared_ptr<ProcessGroup> meta,
               const InitOptions& options, Watchdog::Abort abort);
  // Lets the backend finish what was issued (still watched), then stops the watchdog.
  ~GuardedGroup() override;

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  std::string backend_name() const override { return inner_->backend_name(); }
  const InitOptions& options() const { return options_; }

  WorkPtr all_reduce(const Tensor& t, ReduceOp op) override;
  WorkPtr broadcast(const Tensor& t, int root) override;
  WorkPtr all_gather(const std::vector<Tensor>& outputs, const Tensor& input) override;
  WorkPtr reduce_scatter(const Tensor& output, const std::vector<Tensor>& inputs,
                         ReduceOp op) override;
  WorkPtr barrier() override;

 private:
  // Numbers the collective, compares signatures in checked mode, issues it and watches it.
  template <class Issue>
  WorkPtr issue(const Signature& signature, const std::string& tensor_text, Issue&& call);
  void check_signatures(const Signature& mine, uint64_t sequence, const std::string& what);

  std::unique_ptr<Watchdog> watchdog_;
  std::shared_ptr<ProcessGroup> inner_;
  std::shared_ptr<ProcessGroup> meta_;
  InitOptions options_;
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace kiln::distributed::detail
