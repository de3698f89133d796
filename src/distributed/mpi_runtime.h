#pragma once
// MPI itself, for the process groups: initialisation (once per process), the job abort the
// watchdog uses, and where this process runs. Declared without mpi.h so that code which only
// needs these answers compiles in a build without MPI; every function requires KILN_WITH_MPI.
#include <string>

namespace kiln::distributed::mpi {

// Initialises MPI with MPI_THREAD_MULTIPLE (the communication thread, the watchdog and the
// caller may all call into MPI) unless it already is (by mpi4py, say; then it must provide at
// least MPI_THREAD_SERIALIZED). When Kiln initialised it, MPI_Finalize runs at process exit.
// Before MPI_Init, libmpi is re-opened RTLD_GLOBAL: OpenMPI's plugins resolve libmpi's symbols
// globally, which fails when libmpi came in as a dependency of a Python extension (loaded
// RTLD_LOCAL) — the same thing mpi4py does.
void ensure_initialized();

// Whether MPI is initialised and not yet finalised.
bool is_initialized();

// Ends every process of the job: `message` on stderr, then MPI_Abort(MPI_COMM_WORLD, 1).
[[noreturn]] void abort_job(const std::string& message);

int world_rank();
int world_size();
// The rank among the processes on this machine (OMPI_COMM_WORLD_LOCAL_RANK under mpirun,
// otherwise from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)).
int local_rank();

// Runs `hook` at process exit before MPI_Finalize (the default group is destroyed there, its
// communication threads joined). Registered once, after the first group exists, so that it runs
// before the CUDA runtime's own exit handler (registered when the NCCL group first used CUDA).
void at_exit_before_finalize(void (*hook)());

}  // namespace kiln::distributed::mpi
