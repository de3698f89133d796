// The "mpi" process group. Collectives run on one communication thread per group, in the order
// they were issued (every rank issues them in the same order, so the MPI calls match); the caller
// gets a Work at once and wait() blocks until the thread has finished that collective. Arguments
// were checked by GuardedGroup; here only the device is.
//
// Buffers: MPI reads and writes contiguous memory, so a non-contiguous tensor goes through a
// contiguous scratch that is copied back. float16 and bfloat16 have no MPI type: reductions run
// on a float32 scratch (one rounding at the end, rather than one per reduction step as with a
// user-defined 16-bit MPI_Op); broadcast and all_gather move them as 16-bit words. All staging
// happens on the communication thread, when the collective runs, so that it sees the results of
// collectives issued before it on the same tensor.
#ifdef KILN_WITH_MPI
#include "distributed/mpi_group.h"

#include <mpi.h>

#include <climits>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "distributed/mpi_runtime.h"
#include "distributed/process_group_internal.h"
#include "kiln/autograd.h"
#include "kiln/ops.h"

namespace kiln::distributed::mpi {

namespace {

using detail::describe;

// The type MPI reduces `dtype` as (float16/bfloat16 are reduced as float32, see above).
MPI_Datatype reduce_type(DType dtype) {
  switch (dtype) {
    case DType::Float64:
      return MPI_DOUBLE;
    case DType::Float32:
    case DType::Float16:
    case DType::BFloat16:
      return MPI_FLOAT;
    case DType::Int64:
      return MPI_INT64_T;
    case DType::Int32:
      return MPI_INT32_T;
    case DType::UInt8:
      return MPI_UINT8_T;
    case DType::Bool:
      return MPI_C_BOOL;
  }
  return MPI_DATATYPE_NULL;
}

DType reduce_dtype(DType dtype) {
  return dtype == DType::Float16 || dtype == DType::BFloat16 ? DType::Float32 : dtype;
}

// Plain data movement: any type of the element's width will do.
MPI_Datatype word_type(DType dtype) {
  switch (element_size(dtype)) {
    case 1:
      return MPI_UINT8_T;
    case 2:
      return MPI_UINT16_T;
    case 4:
      return MPI_UINT32_T;
    default:
      return MPI_UINT64_T;
  }
}

// bool reduces logically (sum and max are "or", min is "and"), as a 0/1 type must.
MPI_Op reduce_op(ReduceOp op, DType dtype) {
  if (dtype == DType::Bool) return op == ReduceOp::Min ? MPI_LAND : MPI_LOR;
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Avg:
      return MPI_SUM;
    case ReduceOp::Max:
      return MPI_MAX;
    case ReduceOp::Min:
      return MPI_MIN;
  }
  return MPI_OP_NULL;
}

void check_mpi(int rc, const char* op, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw Error(
      ::kiln::detail::concat(op, ": ", call, " failed: ", std::string(text, size_t(length))));
}

int checked_count(const char* op, int64_t count) {
  KILN_CHECK_VALUE(count <= INT_MAX, op, ": ", count,
                   " elements exceed what one MPI call can move (2^31 - 1)");
  return int(count);
}

// A contiguous buffer of dtype `as` for `target`: the tensor itself when it already is one,
// otherwise a copy (of its current values when `read`) that finish() writes back.
struct Staged {
  Tensor target;
  Tensor buffer;

  Staged(const Tensor& t, DType as, bool read) : target(t) {
    if (t.is_contiguous() && t.dtype() == as) {
      buffer = t;
    } else if (read) {
      buffer = t.to(as).contiguous();
      if (buffer.is_same(t)) buffer = t.clone();
    } else {
      buffer = empty(t.shape(), TensorOptions(as));
    }
  }
  void finish() {
    if (!buffer.is_same(target)) target.copy_(buffer);
  }
};

// count elements in place, in pieces MPI's int counts can describe.
void allreduce_in_place(void* data, int64_t count, DType dtype, ReduceOp op, MPI_Comm comm) {
  auto* bytes = static_cast<char*>(data);
  const size_t width = element_size(dtype);
  for (int64_t done = 0; done < count;) {
    const int piece = int(std::min<int64_t>(count - done, INT_MAX));
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, bytes + size_t(done) * width, piece, reduce_type(dtype),
                            reduce_op(op, dtype), comm),
              "all_reduce", "MPI_Allreduce");
    done += piece;
  }
}

class MpiWork final : public detail::CompletionWork {};

class MpiProcessGroup final : public ProcessGroup {
 public:
  MpiProcessGroup() {
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "init_process_group", "MPI_Comm_dup");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    worker_ = std::thread([this] { run(); });
  }

  // Finishes every collective already issued, then stops the thread.
  ~MpiProcessGroup() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    worker_.join();
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend_name() const override { return "mpi"; }

  WorkPtr all_reduce(const Tensor& t, ReduceOp op) override {
    check_cpu("all_reduce", t);
    return submit([this, t, op] {
      Staged s(t, reduce_dtype(t.dtype()), true);
      allreduce_in_place(s.buffer.data_ptr(), s.buffer.numel(), s.buffer.dtype(), op, comm_);
      if (op == ReduceOp::Avg) s.buffer.div_(size_);
      s.finish();
    });
  }

  WorkPtr broadcast(const Tensor& t, int root) override {
    check_cpu("broadcast", t);
    return submit([this, t, root] {
      Staged s(t, t.dtype(), rank_ == root);
      auto* bytes = static_cast<char*>(s.buffer.data_ptr());
      const size_t width = element_size(t.dtype());
      const int64_t count = s.buffer.numel();
      for (int64_t done = 0; done < count;) {
        const int piece = int(std::min<int64_t>(count - done, INT_MAX));
        check_mpi(MPI_Bcast(bytes + size_t(done) * width, piece, word_type(t.dtype()), root, comm_),
                  "broadcast", "MPI_Bcast");
        done += piece;
      }
      if (rank_ != root) s.finish();
    });
  }

  WorkPtr all_gather(const std::vector<Tensor>& outputs, const Tensor& input) override {
    check_cpu("all_gather", input);
    return submit([this, outputs, input] {
      // Every rank's part lands in one flat buffer (MPI_Allgatherv), then in outputs[r].
      const Tensor send = input.contiguous();
      std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
      int64_t total = 0;
      for (int r = 0; r < size_; ++r) {
        counts[size_t(r)] = checked_count("all_gather", outputs[size_t(r)].numel());
        displs[size_t(r)] = checked_count("all_gather", total);
        total += counts[size_t(r)];
      }
      const Tensor flat = empty({total}, TensorOptions(input.dtype()));
      const MPI_Datatype type = word_type(input.dtype());
      check_mpi(MPI_Allgatherv(send.data_ptr(), counts[size_t(rank_)], type, flat.data_ptr(),
                               counts.data(), displs.data(), type, comm_),
                "all_gather", "MPI_Allgatherv");
      for (int r = 0; r < size_; ++r) {
        Tensor out = outputs[size_t(r)];
        out.copy_(flat.narrow(0, displs[size_t(r)], counts[size_t(r)]).view(out.shape()));
      }
    });
  }

  WorkPtr reduce_scatter(const Tensor& output, const std::vector<Tensor>& inputs,
                         ReduceOp op) override {
    check_cpu("reduce_scatter", output);
    return submit([this, output, inputs, op] {
      // inputs[r] go to rank r: laid out one after the other in one send buffer.
      const DType dtype = reduce_dtype(output.dtype());
      std::vector<int> counts(static_cast<size_t>(size_));
      int64_t total = 0;
      for (int r = 0; r < size_; ++r) {
        counts[size_t(r)] = checked_count("reduce_scatter", inputs[size_t(r)].numel());
        total += counts[size_t(r)];
      }
      const Tensor send = empty({total}, TensorOptions(dtype));
      int64_t offset = 0;
      for (int r = 0; r < size_; ++r) {
        const Tensor& in = inputs[size_t(r)];
        send.narrow(0, offset, counts[size_t(r)]).copy_(in.reshape({in.numel()}));
        offset += counts[size_t(r)];
      }
      Staged s(output, dtype, false);
      check_mpi(MPI_Reduce_scatter(send.data_ptr(), s.buffer.data_ptr(), counts.data(),
                                   reduce_type(dtype), reduce_op(op, dtype), comm_),
                "reduce_scatter", "MPI_Reduce_scatter");
      if (op == ReduceOp::Avg) s.buffer.div_(size_);
      s.finish();
    });
  }

  WorkPtr barrier() override {
    return submit([this] { check_mpi(MPI_Barrier(comm_), "barrier", "MPI_Barrier"); });
  }

 private:
  void check_cpu(const char* op, const Tensor& t) const {
    KILN_CHECK_VALUE(t.device().is_cpu(), op, ": the mpi process group takes CPU tensors, got ",
                     describe(t), " on ", t.device().str(),
                     " (use the nccl group for CUDA tensors)");
  }

  WorkPtr submit(std::function<void()> task) {
    auto work = std::make_shared<MpiWork>();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      KILN_CHECK(!stop_, "kiln.distributed: the mpi process group was destroyed");
      queue_.push_back(Task{std::move(task), work});
    }
    wake_.notify_one();
    return work;
  }

  void run() {
    // Staging copies and the average's division are Kiln ops: they must not record history
    // (this thread's grad mode is independent of the caller's).
    NoGradGuard no_grad;
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left to finish
      Task task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      std::exception_ptr error;
      try {
        task.run();
      } catch (...) {
        error = std::current_exception();
      }
      task.work->complete(error);
      task = Task{};  // release the tensors before waiting again
      lock.lock();
    }
  }

  struct Task {
    std::function<void()> run;
    std::shared_ptr<MpiWork> work;
  };

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> queue_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace

std::shared_ptr<ProcessGroup> make_mpi_group() {
  ensure_initialized();
  return std::make_shared<MpiProcessGroup>();
}

}  // namespace kiln::distributed::mpi
#endif  // KILN_WITH_MPI
