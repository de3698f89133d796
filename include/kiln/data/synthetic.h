#pragma once
// A built-in dataset that needs no files: handwriting-like digits drawn procedurally.
#include <cstdint>

#include "kiln/data/dataset.h"

namespace kiln::data {

// n images [n, 1, 28, 28] float32 in [0, 1] of the digits 0..9 (labels [n] int64, uniformly
// drawn), MNIST-like: each digit is a set of strokes (polylines and arcs) with jittered control
// points, rasterised anti-aliased under a random affine map (scale, aspect, rotation, slant,
// shift) with a random stroke width and brightness, plus Gaussian pixel noise. Image i depends
// only on (seed, i), so a larger n extends a smaller one, on every platform.
TensorDataset synthetic_digits(int64_t n, uint64_t seed);

}  // namespace kiln::data
