#pragma once
// CIFAR-10 in its binary format (https://www.cs.toronto.edu/~kriz/cifar.html): each record is one
// label byte (0..9) and 3072 pixel bytes, the red, green and blue 32x32 planes in turn. Images come
// as [N, 3, 32, 32] float32 scaled to [0, 1], labels as [N] int64. A file whose size is not a
// whole number of records, or a label outside 0..9, raises kiln::Error naming the file.
#include <string>
#include <vector>

#include "kiln/data/dataset.h"

namespace kiln::data {

// One batch file (data_batch_1.bin, test_batch.bin, ...; gzip-compressed files work too).
TensorDataset load_cifar10_batch(const std::string& path);
// Several batch files, concatenated in order.
TensorDataset load_cifar10_batches(const std::vector<std::string>& paths);
// data_batch_1.bin .. data_batch_5.bin (train) or test_batch.bin in `dir`.
TensorDataset load_cifar10(const std::string& dir, bool train = true);

}  // namespace kiln::data
