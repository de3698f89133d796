#include "distributed/ddp_reducer.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "kiln/autograd.h"
#include "kiln/ops.h"

namespace kiln::distributed {

std::vector<std::vector<size_t>> compute_bucket_assignment(const std::vector<Tensor>& params,
                                                           size_t cap_bytes) {
  struct Open {
    std::vector<size_t> indices;
    size_t bytes = 0;
    size_t first = 0;  // position of its first parameter in the reversed order
  };
  // One open bucket per (dtype, device): a bucket is one flat tensor, so it cannot mix them.
  std::map<std::pair<int, std::string>, Open> open;
  std::vector<std::pair<size_t, std::vector<size_t>>> closed;
  for (size_t pos = 0; pos < params.size(); ++pos) {
    const size_t i = params.size() - 1 - pos;
    const Tensor& p = params[i];
    Open& b = open[{int(p.dtype()), p.device().str()}];
    if (b.indices.empty()) b.first = pos;
    b.indices.push_back(i);
    b.bytes += size_t(p.numel()) * element_size(p.dtype());
    if (b.bytes >= cap_bytes) {
      closed.emplace_back(b.first, std::move(b.indices));
      b = Open{};
    }
  }
  for (auto& [key, b] : open)
    if (!b.indices.empty()) closed.emplace_back(b.first, std::move(b.indices));
  std::sort(closed.begin(), closed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::vector<size_t>> out;
  for (auto& [first, indices] : closed) out.push_back(std::move(indices));
  return out;
}

Reducer::Reducer(std::vector<std::pair<std::string, Tensor>> params,
                 std::shared_ptr<ProcessGroup> pg, size_t bucket_cap_bytes,
                 bool find_unused_parameters)
    : params_(std::move(params)), pg_(std::move(pg)), find_unused_(find_unused_parameters) {
  std::vector<Tensor> tensors;
  for (const auto& [name, p] : params_) tensors.push_back(p);
  assignment_ = compute_bucket_assignment(tensors, bucket_cap_bytes);
  location_.resize(params_.size());
  for (size_t b = 0; b < assignment_.size(); ++b) {
    Bucket bucket;
    bucket.params = assignment_[b];
    int64_t size = 0;
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      const Tensor& p = tensors[bucket.params[k]];
      bucket.offsets.push_back(size);
      size += p.numel();
      location_[bucket.params[k]] = {b, k};
    }
    const Tensor& first = tensors[bucket.params[0]];
    bucket.flat = zeros({size}, TensorOptions(first.dtype(), first.device()));
    buckets_.push_back(std::move(bucket));
  }
  ready_.assign(params_.size(), false);
  locally_used_.assign(params_.size(), false);
  for (size_t i = 0; i < params_.size(); ++i) {
    hook_handles_.push_back(params_[i].second.register_post_accumulate_grad_hook(
        [this, i](const Tensor&) { on_grad_ready(i); }));
  }
}

Reducer::~Reducer() {
  for (size_t i = 0; i < params_.size(); ++i)
    params_[i].second.remove_post_accumulate_grad_hook(hook_handles_[i]);
  try {
    wait_all();    // a collective still running writes into our buckets
  } catch (...) {  // destructors do not throw; the iteration that launched it reported it
  }
}

std::vector<size_t> Reducer::find_unused(const std::vector<Tensor>& outputs) const {
  std::vector<Tensor> params;
  for (const auto& [name, p] : params_) params.push_back(p);
  const std::vector<bool> reached = autograd::reaches(outputs, params);
  std::vector<size_t> unused;
  for (size_t i = 0; i < params.size(); ++i)
    if (!reached[i]) unused.push_back(i);
  return unused;
}

void Reducer::prepare_for_backward(const std::vector<Tensor>& outputs) {
  wait_all();  // an earlier iteration whose backward failed may have left work in flight
  std::fill(ready_.begin(), ready_.end(), false);
  std::fill(locally_used_.begin(), locally_used_.end(), false);
  for (Bucket& b : buckets_) b.pending = b.params.size();
  next_bucket_ = 0;
  ready_count_ = 0;
  started_before_last_ = 0;
  callback_queued_ = false;
  unused_ = find_unused_ ? find_unused(outputs) : std::vector<size_t>{};
  armed_ = true;
}

void Reducer::on_grad_ready(size_t index) {
  if (!armed_) return;  // no_sync, or a backward this DDP's forward did not prepare
  KILN_CHECK(!ready_[index], "DistributedDataParallel: parameter '", params_[index].first,
             "' received its gradient twice in one iteration (a backward pass run inside "
             "another, as reentrant checkpointing does, reached it again)");
  if (!callback_queued_) {
    callback_queued_ = true;
    autograd::queue_callback([this] { finalize(); });
    // Unused parameters are ready from the start; marking them at the first hook (not at
    // forward) keeps their .grad readable up to backward, as torch does.
    for (size_t i : unused_) mark_ready(i);
  }
  locally_used_[index] = true;
  mark_ready(index);
}

void Reducer::mark_ready(size_t index) {
  if (ready_[index]) return;
  ready_[index] = true;
  if (++ready_count_ == params_.size()) started_before_last_ = next_bucket_;
  auto [b, k] = location_[index];
  Bucket& bucket = buckets_[b];
  const Tensor& p = params_[index].second;
  Tensor slot = bucket.flat.narrow(0, bucket.offsets[k], p.numel());
  {
    NoGradGuard no_grad;
    Tensor g = p.grad();
    if (g.defined())
      slot.copy_(g.reshape({p.numel()}));
    else
      slot.zero_();
  }
  if (--bucket.pending == 0) launch_ready_buckets();
}

void Reducer::launch_ready_buckets() {
  // In bucket order only: every rank must issue the all-reduces in the same sequence.
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) {
    Bucket& bucket = buckets_[next_bucket_++];
    bucket.work = pg_->all_reduce(bucket.flat, ReduceOp::Sum);
  }
}

double Reducer::wait_all() {
  const auto start = std::chrono::steady_clock::now();
  std::exception_ptr error;
  for (Bucket& b : buckets_) {
    if (!b.work) continue;
    try {
      b.work->wait();
    } catch (...) {
      if (!error) error = std::current_exception();
    }
    b.work.reset();
  }
  if (error) std::rethrow_exception(error);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<bool> Reducer::globally_used() {
  const Tensor& first = params_[0].second;
  std::vector<double> used(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) used[i] = locally_used_[i] ? 1.0 : 0.0;
  Tensor t = tensor(used, {int64_t(used.size())}, DType::Float32).to(first.device());
  pg_->all_reduce(t, ReduceOp::Sum)->wait();
  std::vector<double> summed = t.to_vector();
  std::vector<bool> out(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) out[i] = summed[i] > 0;
  return out;
}

void Reducer::finalize() {
  armed_ = false;
  std::vector<size_t> missing;
  for (size_t i = 0; i < params_.size(); ++i)
    if (!ready_[i]) missing.push_back(i);
  if (!missing.empty() && !find_unused_) {
    wait_all();
    std::string names;
    for (size_t i : missing) names += (names.empty() ? "" : ", ") + params_[i].first;
    throw Error(detail::concat(
        "DistributedDataParallel: on rank ", pg_->rank(), ", ", missing.size(),
        " parameter(s) received no gradient in this backward pass: ", names,
        ". Every parameter must take part in computing the loss of every iteration, or the "
        "ranks cannot reduce the same gradients. If some parameters are unused in some "
        "iterations, construct DistributedDataParallel with find_unused_parameters = true "
        "(find_unused_parameters=True in Python); otherwise make sure all forward outputs "
        "take part in the loss."));
  }
  // Reached by the graph but given no gradient (a backward returned none): still a zero
  // contribution, so that every bucket is reduced on every rank.
  for (size_t i : missing) mark_ready(i);
  stats_.buckets = buckets_.size();
  stats_.started_before_last_gradient = started_before_last_;
  stats_.wait_seconds = wait_all();
  const std::vector<bool> used = find_unused_ ? globally_used() : std::vector<bool>();
  const double world = double(pg_->size());
  NoGradGuard no_grad;
  for (Bucket& bucket : buckets_) {
    bucket.flat.div_(world);
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      const size_t i = bucket.params[k];
      if (find_unused_ && !used[i]) continue;  // no rank used it: its .grad stays as it was
      Tensor p = params_[i].second;
      Tensor mean = bucket.flat.narrow(0, bucket.offsets[k], p.numel()).view(p.shape());
      Tensor g = p.grad();
      if (g.defined())
        g.copy_(mean);
      else
        p.set_grad(mean.clone());
    }
  }
}

}  // namespace kiln::distributed
