#pragma once
// Sampler: which examples a DataLoader visits in an epoch, and in which order (torch's
// Sampler). A loader without one visits 0..n-1, shuffled or not; with one
// (DataLoader::set_sampler) it visits sampler.indices(epoch) for the epoch of each pass.
#include <cstdint>
#include <vector>

namespace kiln::data {

class Sampler {
 public:
  virtual ~Sampler() = default;
  // The dataset indices of `epoch`, in visiting order (size() of them).
  virtual std::vector<int64_t> indices(int64_t epoch) const = 0;
  // How many indices an epoch has.
  virtual int64_t size() const = 0;
};

}  // namespace kiln::data
