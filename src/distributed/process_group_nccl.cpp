// The "nccl" group's bootstrap (see process_group_nccl.h).
#include "distributed/process_group_nccl.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "distributed/mpi_runtime.h"
#include "kiln/cuda.h"
#include "kiln/log.h"
#include "kiln/ops.h"
#if defined(KILN_WITH_CUDA) && defined(KILN_WITH_MPI)
#include "nccl/nccl_group.h"
#endif

namespace kiln::distributed::detail {

#if defined(KILN_WITH_CUDA) && defined(KILN_WITH_MPI)

bool nccl_built() { return true; }

std::shared_ptr<ProcessGroup> make_nccl_group(ProcessGroup& bootstrap) {
  const int devices = kiln::cuda::device_count();
  KILN_CHECK(devices > 0, "init_process_group(\"nccl\"): no CUDA device is visible to rank ",
             bootstrap.rank(), "; use \"mpi\" for CPU tensors");
  const int local = mpi::local_rank();
  const int device = local % devices;
  if (local >= devices) {
    logger()->warn(
        "kiln.distributed: rank {} (local rank {}) shares cuda:{} with another rank ({} visible "
        "devices); NCCL refuses this unless each process has its own NCCL_HOSTID",
        bootstrap.rank(), local, device, devices);
  }
  kiln::cuda::nccl::UniqueId id{};
  if (bootstrap.rank() == 0) id = kiln::cuda::nccl::make_unique_id();
  const Tensor bytes = empty({int64_t(id.size())}, DType::UInt8);
  std::memcpy(bytes.data_ptr(), id.data(), id.size());
  bootstrap.broadcast(bytes, 0)->wait();
  std::memcpy(id.data(), bytes.data_ptr(), id.size());
  return kiln::cuda::nccl::make_nccl_group(bootstrap.rank(), bootstrap.size(), device, id);
}

#else

bool nccl_built() { return false; }

std::shared_ptr<ProcessGroup> make_nccl_group(ProcessGroup&) {
  KILN_CHECK(false, "init_process_group: this build of Kiln has no NCCL group");
  return nullptr;
}

#endif

}  // namespace kiln::distributed::detail
