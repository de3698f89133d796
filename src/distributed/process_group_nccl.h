#pragma once
// The "nccl" group's bootstrap on the src side (MPI lives here; the group itself is in
// cuda/nccl and knows nothing of MPI).
#include <memory>

#include "kiln/distributed/process_group.h"

namespace kiln::distributed::detail {

// Whether this build has the NCCL group (the CUDA backend, with NCCL, and MPI).
bool nccl_built();

// One GPU per local rank (local rank modulo the visible devices); rank 0 makes the
// ncclUniqueId and `bootstrap` (an MPI group of the same ranks) broadcasts it.
std::shared_ptr<ProcessGroup> make_nccl_group(ProcessGroup& bootstrap);

}  // namespace kiln::distributed::detail
