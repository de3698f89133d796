#pragma once
// The "mpi" process group: CPU tensors over OpenMPI. Declared without mpi.h (see mpi_group.cpp).
#include <memory>

#include "kiln/distributed/process_group.h"

namespace kiln::distributed::mpi {

// A group of every process of MPI_COMM_WORLD, on its own duplicate communicator (so that other
// MPI traffic in the process never matches Kiln's). Collective: every rank must call it.
// Initialises MPI when needed. Requires KILN_WITH_MPI.
std::shared_ptr<ProcessGroup> make_mpi_group();

}  // namespace kiln::distributed::mpi
