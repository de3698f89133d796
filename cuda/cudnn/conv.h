#pragma once
// Convolution on CUDA through cuDNN (conv.cu): the Backend's conv_forward / conv_backward_data /
// conv_backward_weight, with the contract of src/backend/backend.h. Internal to cuda/.
#include <cstdint>

#include "backend/backend.h"

namespace kiln::cuda {

void conv_forward(const Tensor& x, const Tensor& w, const ConvGeometry& g, const Tensor& y);
void conv_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g, const Tensor& dx);
void conv_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g,
                          const Tensor& dw);

namespace cudnn {

// The per-problem algorithm cache, for tests: lookups that found an entry, lookups that chose
// an algorithm (and stored it), and the entries held now.
struct ConvCacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t entries = 0;
};
ConvCacheStats conv_cache_stats();
// Forgets every choice (and zeroes the counters), as if no convolution had run yet.
void clear_conv_cache();

}  // namespace cudnn
}  // namespace kiln::cuda
