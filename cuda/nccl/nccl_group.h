#pragma once
// The "nccl" process group: CUDA tensors over NCCL, one GPU per process. Plain C++ (no CUDA or
// NCCL headers) so that src/distributed can create it; the bootstrap (rank 0's id broadcast
// over MPI) is done there, this side knows nothing of MPI.
#include <array>
#include <memory>

#include "kiln/distributed/process_group.h"

namespace kiln::cuda::nccl {

// The bytes of an ncclUniqueId (NCCL_UNIQUE_ID_BYTES).
using UniqueId = std::array<char, 128>;

// Made by one rank (rank 0) and given to every rank of the group.
UniqueId make_unique_id();

// Joins the communicator `id` as `rank` of `size` on `device`; blocks until every rank has.
std::shared_ptr<distributed::ProcessGroup> make_nccl_group(int rank, int size, int device,
                                                           const UniqueId& id);

}  // namespace kiln::cuda::nccl
