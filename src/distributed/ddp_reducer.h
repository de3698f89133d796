#pragma once
// DDP's gradient reducer: buckets, the post-accumulate-grad hooks that fill them, and the final
// autograd callback that waits for them and writes the averaged gradients back (torch's
// c10d::Reducer). Internal to src/distributed; the API is DistributedDataParallel (ddp.h).
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/distributed/ddp.h"
#include "kiln/distributed/process_group.h"
#include "kiln/tensor.h"

namespace kiln::distributed {

// Bucket assignment: parameters (given in registration order) in reverse order, grouped by
// dtype and device; a bucket is closed once it holds at least cap_bytes. Buckets come back in
// the order their first parameter appears in the reversed list. Each entry: parameter indices.
std::vector<std::vector<size_t>> compute_bucket_assignment(const std::vector<Tensor>& params,
                                                           size_t cap_bytes);

class Reducer {
 public:
  // `params`: (name, parameter) of the parameters that require grad, in registration order.
  Reducer(std::vector<std::pair<std::string, Tensor>> params, std::shared_ptr<ProcessGroup> pg,
          size_t bucket_cap_bytes, bool find_unused_parameters);
  ~Reducer();  // removes the hooks
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Arms the hooks for one synchronised backward. `outputs` are the forward's outputs: with
  // find_unused_parameters, the parameters their graph does not reach are marked unused.
  void prepare_for_backward(const std::vector<Tensor>& outputs);
  // The next backward only accumulates locally (no_sync, or a forward without grad).
  void disarm() { armed_ = false; }

  const std::vector<std::vector<size_t>>& bucket_assignment() const { return assignment_; }
  const ReductionStats& last_reduction() const { return stats_; }

 private:
  struct Bucket {
    std::vector<size_t> params;
    std::vector<int64_t> offsets;  // element offset of each parameter in `flat`
    Tensor flat;                   // 1-D, the parameters' dtype and device
    size_t pending = 0;            // parameters not ready yet in this iteration
    WorkPtr work;
  };

  void on_grad_ready(size_t index);
  void mark_ready(size_t index);
  void launch_ready_buckets();
  void finalize();
  // Waits for every launched all-reduce (the group's state must stay consistent even when an
  // iteration fails), returning the seconds spent waiting.
  double wait_all();
  std::vector<size_t> find_unused(const std::vector<Tensor>& outputs) const;
  std::vector<bool> globally_used();

  std::vector<std::pair<std::string, Tensor>> params_;
  std::shared_ptr<ProcessGroup> pg_;
  bool find_unused_;
  std::vector<std::vector<size_t>> assignment_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, size_t>> location_;  // parameter -> (bucket, position)
  std::vector<int> hook_handles_;

  // Per iteration.
  bool armed_ = false;
  bool callback_queued_ = false;
  std::vector<bool> ready_;
  std::vector<bool> locally_used_;
  std::vector<size_t> unused_;  // found by prepare_for_backward (find_unused_parameters)
  size_t next_bucket_ = 0;
  size_t ready_count_ = 0;
  size_t started_before_last_ = 0;
  ReductionStats stats_;
};

}  // namespace kiln::distributed
