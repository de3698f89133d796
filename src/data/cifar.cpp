#include "kiln/data/cifar.h"

#include "data/file_bytes.h"
#include "kiln/ops.h"

namespace kiln::data {

namespace {
constexpr int64_t kPixels = 3 * 32 * 32;
constexpr int64_t kRecord = 1 + kPixels;
constexpr int kClasses = 10;
}  // namespace

TensorDataset load_cifar10_batch(const std::string& path) {
  const std::vector<uint8_t> bytes = detail::read_file_bytes(path, "load_cifar10");
  const auto size = int64_t(bytes.size());
  KILN_CHECK(size > 0 && size % kRecord == 0, "load_cifar10: '", path, "' is ", size,
             " bytes; expected a non-zero multiple of ", kRecord,
             " (1 label byte + 3072 pixel bytes per image), found ", size / kRecord,
             " whole records and ", size % kRecord, " bytes left over");
  const int64_t n = size / kRecord;
  Tensor images = empty({n, 3, 32, 32}, DType::Float32);
  Tensor labels = empty({n}, DType::Int64);
  float* img = images.data<float>();
  int64_t* lab = labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* rec = bytes.data() + i * kRecord;
    KILN_CHECK(rec[0] < kClasses, "load_cifar10: '", path, "': label ", int(rec[0]), " of record ",
               i, " is outside 0..9 (not a CIFAR-10 batch? CIFAR-100 records ",
               "have two label bytes)");
    lab[i] = rec[0];
    for (int64_t j = 0; j < kPixels; ++j) img[i * kPixels + j] = float(rec[1 + j]) / 255.0f;
  }
  return TensorDataset(images, labels);
}

TensorDataset load_cifar10_batches(const std::vector<std::string>& paths) {
  KILN_CHECK_VALUE(!paths.empty(), "load_cifar10: no batch files given");
  if (paths.size() == 1) return load_cifar10_batch(paths[0]);
  std::vector<Tensor> images, labels;
  for (const std::string& p : paths) {
    TensorDataset d = load_cifar10_batch(p);
    images.push_back(d.inputs());
    labels.push_back(d.targets());
  }
  return TensorDataset(cat(images), cat(labels));
}

TensorDataset load_cifar10(const std::string& dir, bool train) {
  const std::string base = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  std::vector<std::string> paths;
  if (train) {
    for (int i = 1; i <= 5; ++i) paths.push_back(base + "data_batch_" + std::to_string(i) + ".bin");
  } else {
    paths.push_back(base + "test_batch.bin");
  }
  for (const std::string& p : paths)
    KILN_CHECK(detail::file_exists(p), "load_cifar10: '", p, "' does not exist");
  return load_cifar10_batches(paths);
}

}  // namespace kiln::data
