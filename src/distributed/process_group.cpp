// The default process group: init_process_group / destroy_process_group and the questions asked
// of it. The group returned is the backend wrapped in a GuardedGroup (checks, checked mode,
// watchdog).
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "distributed/mpi_group.h"
#include "distributed/mpi_runtime.h"
#include "distributed/process_group_guarded.h"
#include "distributed/process_group_internal.h"
#include "distributed/process_group_nccl.h"

namespace kiln::distributed {

namespace {

std::mutex g_mutex;
std::shared_ptr<ProcessGroup> g_default;

#ifdef KILN_WITH_MPI
// At exit, before MPI_Finalize: the group's communication thread must be gone (and, for NCCL,
// its communicator destroyed while the CUDA runtime is still up).
void destroy_at_exit() {
  try {
    destroy_process_group();
  } catch (...) {
    // Nothing can be reported from an exit handler; MPI_Finalize still runs.
  }
}
#endif

}  // namespace

bool is_available(const std::string& backend) {
#ifdef KILN_WITH_MPI
  if (backend == "mpi") return true;
  if (backend == "nccl") return detail::nccl_built();
#endif
  (void)backend;
  return false;
}

std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend,
                                                 const InitOptions& options) {
  std::lock_guard<std::mutex> lock(g_mutex);
  KILN_CHECK_VALUE(backend == "mpi" || backend == "nccl", "init_process_group: unknown backend '",
                   backend, "'; expected \"mpi\" (CPU tensors) or \"nccl\" (CUDA tensors)");
  KILN_CHECK(!g_default, "init_process_group: the default process group is already initialised (",
             g_default ? g_default->backend_name() : "", "); call destroy_process_group() first");
#ifdef KILN_WITH_MPI
  const InitOptions resolved = detail::options_with_env(options);
  std::shared_ptr<ProcessGroup> inner, meta;
  if (backend == "mpi") {
    inner = mpi::make_mpi_group();
    meta = inner;
  } else {
    KILN_CHECK(detail::nccl_built(),
               "init_process_group: this build of Kiln has no NCCL group (it was built without "
               "the CUDA backend); use \"mpi\" for CPU tensors");
    meta = mpi::make_mpi_group();
    inner = detail::make_nccl_group(*meta);
  }
  g_default = std::make_shared<detail::GuardedGroup>(inner, meta, resolved, mpi::abort_job);
  mpi::at_exit_before_finalize(destroy_at_exit);
  return g_default;
#else
  (void)options;
  KILN_CHECK(false,
             "init_process_group: this build of Kiln has no distributed support (it was "
             "built without MPI; install libopenmpi-dev and reconfigure)");
  return nullptr;
#endif
}

void abort_job(const std::string& message) {
#ifdef KILN_WITH_MPI
  if (mpi::is_initialized()) mpi::abort_job(message);
#endif
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

bool is_initialized() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_default != nullptr;
}

std::shared_ptr<ProcessGroup> default_group() {
  std::lock_guard<std::mutex> lock(g_mutex);
  KILN_CHECK(g_default != nullptr,
             "kiln.distributed: the default process group is not initialised; call "
             "init_process_group(\"mpi\" | \"nccl\") first (under mpirun)");
  return g_default;
}

void destroy_process_group() {
  std::shared_ptr<ProcessGroup> group;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    group = std::move(g_default);
    g_default.reset();
  }
  // Outside the lock: the group finishes its outstanding collectives here (when no one else
  // holds it), which may take until the watchdog's timeout.
  group.reset();
}

int get_rank() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_default ? g_default->rank() : 0;
}

int get_world_size() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_default ? g_default->size() : 1;
}

}  // namespace kiln::distributed
