// The "nccl" process group (see nccl_group.h).
//
// Streams: every collective runs on the device's communication stream, after the work queued on
// the compute stream so far (an event), so gradient all-reduces overlap the compute that follows.
// Work::wait() makes the compute stream wait for the collective (it does not block the host,
// except for barrier), as torch's NCCL work does. The tensors a collective uses stay referenced
// by its Work, which the watchdog holds until the collective completes, so the stream-ordered
// allocator never hands their memory to the compute stream while NCCL still uses it.
//
// Layouts: NCCL moves contiguous buffers. A non-contiguous input is copied to a contiguous one
// on the compute stream before the collective; a non-contiguous output gets a contiguous scratch
// that wait() copies back on the compute stream. float16 and bfloat16 reduce natively;
// bool reduces as uint8 with max (sum, max: "or") and min ("and"). Uneven all_gather is a group
// of broadcasts (one per root), uneven reduce_scatter a group of reduces (one per root), as the
// NCCL documentation suggests for the "v" variants.
#include "nccl/nccl_group.h"

#include <nccl.h>

#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/check.h"
#include "kiln/autograd.h"
#include "kiln/ops.h"
#include "runtime/device.h"
#include "runtime/event.h"
#include "runtime/stream.h"

namespace kiln::cuda::nccl {

static_assert(sizeof(ncclUniqueId) == std::tuple_size_v<UniqueId>,
              "UniqueId must hold an ncclUniqueId");

namespace {

using distributed::ReduceOp;
using distributed::WorkPtr;

std::string describe(const Tensor& t) {
  return std::string(dtype_name(t.dtype())) + " " + shape_str(t.shape());
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return ncclFloat32;
    case DType::Float64:
      return ncclFloat64;
    case DType::Float16:
      return ncclFloat16;
    case DType::BFloat16:
      return ncclBfloat16;
    case DType::Int64:
      return ncclInt64;
    case DType::Int32:
      return ncclInt32;
    case DType::UInt8:
    case DType::Bool:
      return ncclUint8;
  }
  return ncclUint8;
}

ncclRedOp_t nccl_op(ReduceOp op, DType dtype) {
  if (dtype == DType::Bool) return op == ReduceOp::Min ? ncclMin : ncclMax;
  switch (op) {
    case ReduceOp::Sum:
      return ncclSum;
    case ReduceOp::Avg:
      return ncclAvg;
    case ReduceOp::Max:
      return ncclMax;
    case ReduceOp::Min:
      return ncclMin;
  }
  return ncclSum;
}

class NcclWork final : public distributed::Work {
 public:
  NcclWork(int device, bool host_sync) : device_(device), host_sync_(host_sync), done_(device) {}

  void wait() override {
    DeviceGuard guard(device_);
    done_.wait(compute_stream(device_));
    std::call_once(copied_back_, [&] {
      NoGradGuard no_grad;
      for (auto& [target, scratch] : copy_back_) target.copy_(scratch);
    });
    if (host_sync_) done_.synchronize();
  }

  bool is_completed() override { return done_.query(); }

  StreamEvent& done() { return done_; }
  void keep(const Tensor& t) { keep_.push_back(t); }
  void copy_back(const Tensor& target, const Tensor& scratch) {
    copy_back_.emplace_back(target, scratch);
  }

 private:
  int device_;
  bool host_sync_;
  StreamEvent done_;
  std::vector<Tensor> keep_;
  std::vector<std::pair<Tensor, Tensor>> copy_back_;
  std::once_flag copied_back_;
};

class NcclProcessGroup final : public distributed::ProcessGroup {
 public:
  NcclProcessGroup(int rank, int size, int device, const UniqueId& id)
      : rank_(rank), size_(size), device_(device), ready_(device) {
    DeviceGuard guard(device_);
    ncclUniqueId nccl_id;
    std::memcpy(&nccl_id, id.data(), sizeof(nccl_id));
    KILN_NCCL_CHECK(ncclCommInitRank(&comm_, size_, nccl_id, rank_), "init_process_group");
  }

  ~NcclProcessGroup() override {
    // Destructors must not throw: errors at teardown (a peer gone, the driver shutting down)
    // are ignored; the job is ending anyway.
    DeviceGuard guard(device_);
    (void)cudaStreamSynchronize(communication_stream(device_));
    (void)ncclCommFinalize(comm_);
    (void)ncclCommDestroy(comm_);
    (void)cudaGetLastError();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend_name() const override { return "nccl"; }

  WorkPtr all_reduce(const Tensor& t, ReduceOp op) override {
    check_device("all_reduce", t);
    return issue(false, [&](NcclWork& work) -> Launch {
      const Tensor buf = in_out(work, t);
      return [this, buf, op](cudaStream_t stream) {
        KILN_NCCL_CHECK(
            ncclAllReduce(buf.data_ptr(), buf.data_ptr(), size_t(buf.numel()),
                          nccl_type(buf.dtype()), nccl_op(op, buf.dtype()), comm_, stream),
            "all_reduce");
      };
    });
  }

  WorkPtr broadcast(const Tensor& t, int root) override {
    check_device("broadcast", t);
    return issue(false, [&](NcclWork& work) -> Launch {
      const Tensor buf = in_out(work, t);
      return [this, buf, root](cudaStream_t stream) {
        KILN_NCCL_CHECK(ncclBroadcast(buf.data_ptr(), buf.data_ptr(), size_t(buf.numel()),
                                      nccl_type(buf.dtype()), root, comm_, stream),
                        "broadcast");
      };
    });
  }

  WorkPtr all_gather(const std::vector<Tensor>& outputs, const Tensor& input) override {
    check_device("all_gather", input);
    return issue(false, [&](NcclWork& work) -> Launch {
      const Tensor send = input_buffer(work, input);
      std::vector<Tensor> recv;
      for (const Tensor& out : outputs) recv.push_back(output_buffer(work, out));
      return [this, send, recv](cudaStream_t stream) {
        const ncclDataType_t type = nccl_type(send.dtype());
        KILN_NCCL_CHECK(ncclGroupStart(), "all_gather");
        for (int r = 0; r < size_; ++r) {
          const Tensor& dst = recv[size_t(r)];
          // sendbuff is read on the root only.
          void* src = r == rank_ ? send.data_ptr() : dst.data_ptr();
          KILN_NCCL_CHECK(
              ncclBroadcast(src, dst.data_ptr(), size_t(dst.numel()), type, r, comm_, stream),
              "all_gather");
        }
        KILN_NCCL_CHECK(ncclGroupEnd(), "all_gather");
      };
    });
  }

  WorkPtr reduce_scatter(const Tensor& output, const std::vector<Tensor>& inputs,
                         ReduceOp op) override {
    check_device("reduce_scatter", output);
    return issue(false, [&](NcclWork& work) -> Launch {
      const Tensor recv = output_buffer(work, output);
      const ncclDataType_t type = nccl_type(output.dtype());
      const ncclRedOp_t nop = nccl_op(op, output.dtype());
      bool even = true;
      for (const Tensor& in : inputs) even = even && in.numel() == output.numel();
      if (even) {
        // One packed send buffer in ncclReduceScatter's layout (rank r's part at r * count).
        std::vector<Tensor> flat;
        for (const Tensor& in : inputs) flat.push_back(in.reshape({in.numel()}));
        const Tensor send = cat(flat, 0);
        work.keep(send);
        return [this, send, recv, type, nop](cudaStream_t stream) {
          KILN_NCCL_CHECK(ncclReduceScatter(send.data_ptr(), recv.data_ptr(), size_t(recv.numel()),
                                            type, nop, comm_, stream),
                          "reduce_scatter");
        };
      }
      std::vector<Tensor> sends;
      for (const Tensor& in : inputs) sends.push_back(input_buffer(work, in));
      return [this, sends, recv, type, nop](cudaStream_t stream) {
        KILN_NCCL_CHECK(ncclGroupStart(), "reduce_scatter");
        for (int r = 0; r < size_; ++r) {
          const Tensor& src = sends[size_t(r)];
          // recvbuff is written on the root only.
          void* dst = r == rank_ ? recv.data_ptr() : nullptr;
          KILN_NCCL_CHECK(
              ncclReduce(src.data_ptr(), dst, size_t(src.numel()), type, nop, r, comm_, stream),
              "reduce_scatter");
        }
        KILN_NCCL_CHECK(ncclGroupEnd(), "reduce_scatter");
      };
    });
  }

  // NCCL has no barrier: a one-element all-reduce, and wait() blocks the host until it is done.
  WorkPtr barrier() override {
    return issue(true, [&](NcclWork& work) -> Launch {
      const Tensor one = zeros({1}, TensorOptions(DType::Float32, Device::cuda(device_)));
      work.keep(one);
      return [this, one](cudaStream_t stream) {
        KILN_NCCL_CHECK(
            ncclAllReduce(one.data_ptr(), one.data_ptr(), 1, ncclFloat32, ncclSum, comm_, stream),
            "barrier");
      };
    });
  }

 private:
  // The NCCL calls of one collective, on the communication stream.
  using Launch = std::function<void(cudaStream_t)>;

  void check_device(const char* op, const Tensor& t) const {
    KILN_CHECK_VALUE(t.device() == Device::cuda(device_), op, ": the nccl process group of rank ",
                     rank_, " uses cuda:", device_, ", got ", describe(t), " on ", t.device().str(),
                     " (use the mpi group for CPU tensors)");
  }

  // `stage` queues the staging copies on the compute stream and returns the NCCL calls; those
  // run on the communication stream after everything queued on the compute stream so far (the
  // inputs and the staging copies), and the Work's event marks their end.
  template <class Stage>
  WorkPtr issue(bool host_sync, Stage&& stage) {
    std::lock_guard<std::mutex> lock(mutex_);
    DeviceGuard guard(device_);
    NoGradGuard no_grad;  // staging copies are not part of any graph
    auto work = std::make_shared<NcclWork>(device_, host_sync);
    const Launch launch = stage(*work);
    const cudaStream_t comm = communication_stream(device_);
    ready_.record(compute_stream(device_));
    ready_.wait(comm);
    launch(comm);
    work->done().record(comm);
    return work;
  }

  // The tensor NCCL reads and writes in place for `t`.
  static Tensor in_out(NcclWork& work, const Tensor& t) {
    work.keep(t);
    if (t.is_contiguous()) return t;
    const Tensor buf = t.contiguous();
    work.keep(buf);
    work.copy_back(t, buf);
    return buf;
  }

  static Tensor input_buffer(NcclWork& work, const Tensor& t) {
    work.keep(t);
    const Tensor buf = t.contiguous();
    work.keep(buf);
    return buf;
  }

  static Tensor output_buffer(NcclWork& work, const Tensor& t) {
    work.keep(t);
    if (t.is_contiguous()) return t;
    const Tensor buf = empty(t.shape(), TensorOptions(t.dtype(), t.device()));
    work.keep(buf);
    work.copy_back(t, buf);
    return buf;
  }

  int rank_, size_, device_;
  ncclComm_t comm_ = nullptr;
  std::mutex mutex_;  // one collective issued at a time: NCCL calls must match across ranks
  StreamEvent ready_;
};

}  // namespace

UniqueId make_unique_id() {
  ncclUniqueId id;
  KILN_NCCL_CHECK(ncclGetUniqueId(&id), "init_process_group");
  UniqueId out{};
  std::memcpy(out.data(), &id, sizeof(id));
  return out;
}

std::shared_ptr<distributed::ProcessGroup> make_nccl_group(int rank, int size, int device,
                                                           const UniqueId& id) {
  check_device(device, "init_process_group");
  return std::make_shared<NcclProcessGroup>(rank, size, device, id);
}

}  // namespace kiln::cuda::nccl
