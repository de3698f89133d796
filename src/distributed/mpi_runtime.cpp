// MPI initialisation, finalisation and the job abort (see mpi_runtime.h).
#ifdef KILN_WITH_MPI
#include "distributed/mpi_runtime.h"

#include <dlfcn.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "kiln/error.h"

namespace kiln::distributed::mpi {

namespace {

bool g_initialized_by_kiln = false;
void (*g_exit_hook)() = nullptr;
// The exit barrier's communicator (see finalize_at_exit).
MPI_Comm g_exit_comm = MPI_COMM_NULL;

const char* thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE:
      return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
      return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
      return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE:
      return "MPI_THREAD_MULTIPLE";
  }
  return "an unknown thread level";
}

// Makes libmpi's symbols global. dladdr finds the file that defines MPI_Init in this process,
// whatever its soname; RTLD_NOLOAD only promotes the copy already loaded.
void promote_libmpi_to_global() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&MPI_Init), &info) != 0 && info.dli_fname != nullptr) {
    // The handle is kept on purpose: libmpi stays loaded for the life of the process.
    (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  }
}

void run_exit_hook() {
  if (g_exit_hook) g_exit_hook();
}

// MPI_Finalize waits for every rank to finalize. A rank that leaves early (an error it caught,
// sys.exit) waits there while the others wait in a collective for it, until their watchdog
// aborts the job; but OpenMPI 4.1's mpirun may hang or crash when a process is inside
// MPI_Finalize while others abort (here: 4 runs in 12 of a 3-rank job). So the ranks first meet
// at a barrier of their own, polled: a rank waiting there is in ordinary MPI progress, which an
// abort ends cleanly (16 runs in 16). There is no time limit: a rank that is still working (rank
// 0 saving a checkpoint) is not a fault, and a peer stuck in a collective is the watchdog's.
void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!g_initialized_by_kiln || finalized) return;
  if (g_exit_comm != MPI_COMM_NULL) {
    MPI_Request request = MPI_REQUEST_NULL;
    MPI_Ibarrier(g_exit_comm, &request);
    auto pause = std::chrono::microseconds(100);
    for (int done = 0;;) {
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (done) break;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(20000));
    }
    MPI_Comm_free(&g_exit_comm);
  }
  MPI_Finalize();
}

}  // namespace

void ensure_initialized() {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  int finalized = 0;
  MPI_Finalized(&finalized);
  KILN_CHECK(!finalized,
             "init_process_group: MPI has already been finalized in this process; it cannot be "
             "initialised again");
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = 0;
  if (!initialized) {
    promote_libmpi_to_global();
    const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
    KILN_CHECK(rc == MPI_SUCCESS, "init_process_group: MPI_Init_thread failed (error ", rc, ")");
    g_initialized_by_kiln = true;
    MPI_Comm_dup(MPI_COMM_WORLD, &g_exit_comm);
    std::atexit(finalize_at_exit);
  } else {
    MPI_Query_thread(&provided);
  }
  KILN_CHECK(provided >= MPI_THREAD_SERIALIZED, "init_process_group: MPI provides ",
             thread_level_name(provided),
             "; Kiln's communication thread needs MPI_THREAD_SERIALIZED or higher "
             "(initialise MPI with MPI_Init_thread(MPI_THREAD_MULTIPLE))");
}

bool is_initialized() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void abort_job(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] true if it ever did
}

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

int local_rank() {
  for (const char* name :
       {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK"}) {
    if (const char* value = std::getenv(name); value && *value) return std::atoi(value);
  }
  MPI_Comm local = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  int rank = 0;
  MPI_Comm_rank(local, &rank);
  MPI_Comm_free(&local);
  return rank;
}

void at_exit_before_finalize(void (*hook)()) {
  static std::once_flag once;
  g_exit_hook = hook;
  // Exit handlers run in reverse order of registration: this one, registered after the group
  // (and the CUDA runtime) started, runs before the CUDA runtime's and before
  // finalize_at_exit, registered at MPI_Init.
  std::call_once(once, [] { std::atexit(run_exit_hook); });
}

}  // namespace kiln::distributed::mpi
#endif  // KILN_WITH_MPI
