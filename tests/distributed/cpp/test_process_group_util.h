#pragma once
// Helpers for the process-group tests, which run on every rank of the default group (main.cpp).
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "kiln/distributed/distributed.h"
#include "kiln/kiln.h"
#include "test_util.h"

namespace kiln::testing::dist {

inline distributed::ProcessGroup& group() { return *distributed::default_group(); }
inline int rank() { return group().rank(); }
inline int world() { return group().size(); }

// Where the tests' tensors live: this rank's GPU under the nccl group (the group's own choice:
// local rank modulo the visible devices), the CPU under mpi.
inline Device dev() {
  if (group().backend_name() != "nccl") return Device::cpu();
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  return Device::cuda((local ? std::atoi(local) : 0) % cuda::device_count());
}
inline TensorOptions opt(DType dtype = DType::Float32) { return TensorOptions(dtype, dev()); }

// Every rank's contribution is known to every rank: value(r, i) for rank r, element i. Small
// integers, exact in every dtype (bfloat16 included) and different for each rank and element.
inline double value(int r, int64_t i) { return double((r + 1) * (i % 7 + 1) + 3 * (r % 2)); }

inline std::vector<double> values_of(int r, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = value(r, i);
  return v;
}

inline Tensor tensor_of(int r, const Shape& shape, DType dtype) {
  return tensor(values_of(r, numel_of(shape)), shape, TensorOptions(DType::Float64))
      .to(dev(), dtype);
}

}  // namespace kiln::testing::dist
