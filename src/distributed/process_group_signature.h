#pragma once
// Checked mode: before each collective the ranks exchange what they are about to do — which
// collective, the reduction, the root, the dtype and every shape involved — and each rank finds
// the same first disagreement, so every rank raises the same kiln::ValueError instead of MPI
// or NCCL reading the wrong number of bytes or hanging.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/distributed/process_group.h"

namespace kiln::distributed::detail {

enum class Collective : int64_t { AllReduce, Broadcast, AllGather, ReduceScatter, Barrier };
const char* collective_name(Collective c);  // "all_reduce", ...

struct Signature {
  Collective collective = Collective::Barrier;
  int64_t op = -1;    // ReduceOp for reductions, -1 otherwise
  int64_t root = -1;  // broadcast's root, -1 otherwise
  int64_t dtype = -1;
  // shapes[0]: the tensor this rank contributes (all_reduce / broadcast / all_gather input,
  // reduce_scatter output); shapes[1 + r]: the tensor exchanged with rank r (all_gather's
  // outputs[r], reduce_scatter's inputs[r]).
  std::vector<Shape> shapes;
};

Signature signature_of(Collective c, const Tensor& main, const std::vector<Tensor>& per_rank = {},
                       int64_t op = -1, int64_t root = -1);

// A flat int64 encoding for the exchange, and back.
std::vector<int64_t> encode(const Signature& s);
Signature decode(const int64_t* data, size_t length);

// The first disagreement among the ranks' signatures (index = rank), as the message every rank
// raises, e.g. "all_reduce: rank 0 has float32 [4, 3] but rank 1 has float32 [4, 2]"; nullopt
// when they agree.
std::optional<std::string> find_mismatch(const std::vector<Signature>& ranks);

}  // namespace kiln::distributed::detail
