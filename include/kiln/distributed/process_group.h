#pragma once
// kiln::distributed — process groups: the collectives data-parallel training is built on.
//
// A ProcessGroup is the set of processes started by one `mpirun -np N`; every process calls the
// same collectives in the same order. Two implementations: "mpi" (CPU tensors, OpenMPI) and
// "nccl" (CUDA tensors, one GPU per local rank; bootstrapped over MPI). Every collective returns
// a Work handle: the collective runs asynchronously (a communication thread for MPI, the
// device's communication stream for NCCL), and its results may only be read after wait().
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::distributed {

enum class ReduceOp { Sum, Avg, Max, Min };

// "sum", "avg", "max", "min" (for messages).
const char* reduce_op_name(ReduceOp op);

class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the collective has completed (MPI) or until the current compute stream is
  // ordered after it (NCCL). Rethrows an error the collective raised.
  virtual void wait() = 0;
  virtual bool is_completed() = 0;
};
using WorkPtr = std::shared_ptr<Work>;

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend_name() const = 0;

  // All in place / into the given tensors; every call returns a Work (already completed for
  // blocking use is fine, but MPI/NCCL run them asynchronously: wait() before reading results).
  virtual WorkPtr all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum) = 0;
  virtual WorkPtr broadcast(const Tensor& t, int root) = 0;
  // outputs[r] receives rank r's input; sizes may differ between ranks in every dim as long as
  // outputs[r] has rank r's shape.
  virtual WorkPtr all_gather(const std::vector<Tensor>& outputs, const Tensor& input) = 0;
  // output = reduce over ranks of inputs[rank()]; inputs.size() == size().
  virtual WorkPtr reduce_scatter(const Tensor& output, const std::vector<Tensor>& inputs,
                                 ReduceOp op = ReduceOp::Sum) = 0;
  virtual WorkPtr barrier() = 0;
};

struct InitOptions {
  // A collective that has not completed within `timeout` ends the whole job (MPI_Abort) with a
  // message naming the rank, the collective, its sequence number and its shape.
  // Env override: KILN_DIST_TIMEOUT_SEC (seconds, may be fractional).
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // Before each collective, ranks exchange (collective, dtype, shape) and a mismatch raises
  // kiln::ValueError on every rank naming both shapes. Env override: KILN_DIST_CHECKED=1 (or 0).
  bool checked = false;
};

// Creates the default group ("mpi" | "nccl"); MPI is initialised when needed. Raises when a
// group already exists or when Kiln was built without the backend.
std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend,
                                                 const InitOptions& options = {});
bool is_initialized();
// The group made by init_process_group; raises when there is none.
std::shared_ptr<ProcessGroup> default_group();
// Waits for outstanding collectives and releases the default group (MPI stays initialised
// until the process exits: MPI cannot be initialised twice).
void destroy_process_group();
int get_rank();        // 0 when not initialised
int get_world_size();  // 1 when not initialised

// Whether this build has the backend ("mpi" | "nccl").
bool is_available(const std::string& backend);

// Ends every process of the job now: `message` on stderr, then MPI_Abort (what the watchdog does
// when a collective times out). Without MPI (or before it is initialised) it ends this process.
[[noreturn]] void abort_job(const std::string& message);

}  // namespace kiln::distributed
