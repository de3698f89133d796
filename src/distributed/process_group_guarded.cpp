// GuardedGroup: argument checks, sequence numbers, checked mode, watchdog (see the header).
#include "distributed/process_group_guarded.h"

#include "distributed/process_group_internal.h"
#include "kiln/ops.h"

namespace kiln::distributed::detail {

namespace {

void check_defined(const char* op, const Tensor& t, const char* what) {
  KILN_CHECK_VALUE(t.defined(), op, ": ", what, " is an undefined tensor");
}

void check_reduce_dtype(const char* op, const Tensor& t, ReduceOp reduce) {
  KILN_CHECK_TYPE(reduce != ReduceOp::Avg || t.is_floating_point(), op,
                  ": ReduceOp.AVG needs a floating-point tensor, got ", describe(t));
}

// The tensors exchanged with each rank: one per rank, of the main tensor's dtype and device, and
// this rank's own one of the main tensor's shape.
void check_per_rank(const char* op, const ProcessGroup& pg, const std::vector<Tensor>& list,
                    const char* list_name, const Tensor& main, const char* main_name) {
  KILN_CHECK_VALUE(int(list.size()) == pg.size(), op, ": ", list_name,
                   " must hold one tensor per rank (", pg.size(), "), got ", list.size());
  for (size_t r = 0; r < list.size(); ++r) {
    KILN_CHECK_VALUE(list[r].defined(), op, ": ", list_name, "[", r, "] is an undefined tensor");
    KILN_CHECK_TYPE(list[r].dtype() == main.dtype(), op, ": ", list_name, "[", r, "] is ",
                    describe(list[r]), " but ", main_name, " is ", describe(main),
                    " (all must have one dtype)");
    KILN_CHECK_VALUE(list[r].device() == main.device(), op, ": ", list_name, "[", r, "] is on ",
                     list[r].device().str(), " but ", main_name, " is on ", main.device().str());
  }
  const Tensor& own = list[size_t(pg.rank())];
  KILN_CHECK_VALUE(own.shape() == main.shape(), op, ": ", list_name, "[", pg.rank(),
                   "] (this rank's) has shape ", shape_str(own.shape()), " but ", main_name,
                   " has shape ", shape_str(main.shape()));
}

}  // namespace

GuardedGroup::GuardedGroup(std::shared_ptr<ProcessGroup> inner, std::shared_ptr<ProcessGroup> meta,
                           const InitOptions& options, Watchdog::Abort abort)
    : watchdog_(std::make_unique<Watchdog>(inner->rank(), options.timeout, std::move(abort))),
      inner_(std::move(inner)),
      meta_(std::move(meta)),
      options_(options) {}

GuardedGroup::~GuardedGroup() {
  // The backends finish (or, when a peer never joins, time out) while still watched.
  meta_.reset();
  inner_.reset();
  watchdog_.reset();
}

template <class Issue>
WorkPtr GuardedGroup::issue(const Signature& signature, const std::string& tensor_text,
                            Issue&& call) {
  const uint64_t sequence = ++sequence_;
  std::string what =
      std::string(collective_name(signature.collective)) + " #" + std::to_string(sequence);
  if (!tensor_text.empty()) what += " (" + tensor_text + ")";
  if (options_.checked) check_signatures(signature, sequence, what);
  WorkPtr work = call();
  watchdog_->track(work, std::move(what));
  return work;
}

void GuardedGroup::check_signatures(const Signature& mine, uint64_t sequence,
                                    const std::string& what) {
  const int n = meta_->size();
  const std::vector<int64_t> encoded = encode(mine);
  const Tensor values = tensor(encoded, {int64_t(encoded.size())});
  const Tensor length = tensor(std::vector<int64_t>{int64_t(encoded.size())}, {1});
  std::vector<Tensor> lengths(static_cast<size_t>(n));
  for (Tensor& t : lengths) t = empty({1}, DType::Int64);
  const std::string exchange = what + " [checked-mode exchange]";
  WorkPtr work = meta_->all_gather(lengths, length);
  watchdog_->track(work, exchange);
  work->wait();
  std::vector<Tensor> all(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r)
    all[size_t(r)] = empty({lengths[size_t(r)].item<int64_t>()}, DType::Int64);
  work = meta_->all_gather(all, values);
  watchdog_->track(work, exchange);
  work->wait();
  std::vector<Signature> signatures;
  for (const Tensor& t : all) signatures.push_back(decode(t.data<int64_t>(), size_t(t.numel())));
  if (auto mismatch = find_mismatch(signatures)) {
    throw ValueError(*mismatch + " (checked mode, collective #" + std::to_string(sequence) + ")");
  }
}

WorkPtr GuardedGroup::all_reduce(const Tensor& t, ReduceOp op) {
  check_defined("all_reduce", t, "the tensor");
  check_reduce_dtype("all_reduce", t, op);
  return issue(signature_of(Collective::AllReduce, t, {}, int64_t(op)), describe(t),
               [&] { return inner_->all_reduce(t, op); });
}

WorkPtr GuardedGroup::broadcast(const Tensor& t, int root) {
  check_defined("broadcast", t, "the tensor");
  KILN_CHECK_VALUE(root >= 0 && root < size(), "broadcast: root ", root,
                   " is not a rank of this group (size ", size(), ")");
  return issue(signature_of(Collective::Broadcast, t, {}, -1, root), describe(t),
               [&] { return inner_->broadcast(t, root); });
}

WorkPtr GuardedGroup::all_gather(const std::vector<Tensor>& outputs, const Tensor& input) {
  check_defined("all_gather", input, "the input");
  check_per_rank("all_gather", *this, outputs, "outputs", input, "the input");
  return issue(signature_of(Collective::AllGather, input, outputs), describe(input),
               [&] { return inner_->all_gather(outputs, input); });
}

WorkPtr GuardedGroup::reduce_scatter(const Tensor& output, const std::vector<Tensor>& inputs,
                                     ReduceOp op) {
  check_defined("reduce_scatter", output, "the output");
  check_reduce_dtype("reduce_scatter", output, op);
  check_per_rank("reduce_scatter", *this, inputs, "inputs", output, "the output");
  return issue(signature_of(Collective::ReduceScatter, output, inputs, int64_t(op)),
               describe(output), [&] { return inner_->reduce_scatter(output, inputs, op); });
}

WorkPtr GuardedGroup::barrier() {
  return issue(signature_of(Collective::Barrier, Tensor()), "", [&] { return inner_->barrier(); });
}

}  // namespace kiln::distributed::detail
