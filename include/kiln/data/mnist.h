#pragma once
// MNIST and Fashion-MNIST in the idx format (http://yann.lecun.com/exdb/mnist/), gzip-compressed
// or raw. Images come as [N, 1, 28, 28] float32 scaled to [0, 1], labels as [N] int64 in 0..9.
// A malformed file (bad magic number, dimensions other than 28x28, truncated data, trailing
// bytes, labels out of range, image and label counts that differ) raises kiln::Error naming the
// file and what was expected and found.
#include <string>

#include "kiln/data/dataset.h"

namespace kiln::data {

// An idx3 images file and its idx1 labels file.
TensorDataset load_mnist_idx(const std::string& images_path, const std::string& labels_path);

// The training set (train-images-idx3-ubyte, train-labels-idx1-ubyte) or the test set (t10k-*)
// in `dir`, each found with or without a .gz suffix.
TensorDataset load_mnist(const std::string& dir, bool train = true);

}  // namespace kiln::data
