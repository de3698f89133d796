#include "kiln/data/mnist.h"

#include "data/file_bytes.h"
#include "kiln/ops.h"

namespace kiln::data {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // idx3: unsigned bytes, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // idx1: unsigned bytes, 1 dimension
constexpr int64_t kSide = 28;
constexpr int64_t kClasses = 10;

const char* magic_hint(uint32_t magic) {
  if (magic == kLabelsMagic) return " (an idx1 labels file?)";
  if (magic == kImagesMagic) return " (an idx3 images file?)";
  if ((magic >> 16) == 0x1f8b) return " (gzip data that did not decompress?)";
  return "";
}

Tensor read_images(const std::string& path) {
  const std::vector<uint8_t> bytes = detail::read_file_bytes(path, "load_mnist");
  KILN_CHECK(bytes.size() >= 4, "load_mnist: '", path, "' is ", bytes.size(),
             " bytes, shorter than the 16-byte header of an idx3 images file");
  const uint32_t magic = detail::read_be32(bytes.data());
  KILN_CHECK(magic == kImagesMagic, "load_mnist: '", path,
             "' is not an idx3 images file: expected magic number 2051 (0x00000803), found ", magic,
             magic_hint(magic));
  KILN_CHECK(bytes.size() >= 16, "load_mnist: '", path, "' is ", bytes.size(),
             " bytes, shorter than the 16-byte header of an idx3 images file");
  const int64_t n = detail::read_be32(bytes.data() + 4);
  const int64_t rows = detail::read_be32(bytes.data() + 8);
  const int64_t cols = detail::read_be32(bytes.data() + 12);
  KILN_CHECK(rows == kSide && cols == kSide, "load_mnist: '", path,
             "': expected 28x28 images, found ", rows, "x", cols);
  const int64_t expected = 16 + n * kSide * kSide;
  KILN_CHECK(int64_t(bytes.size()) == expected, "load_mnist: '", path, "': the header announces ",
             n, " images, which take ", expected, " bytes, but the file has ", bytes.size(),
             " bytes", int64_t(bytes.size()) < expected ? " (truncated)" : " (trailing data)");
  Tensor images = empty({n, 1, kSide, kSide}, DType::Float32);
  float* out = images.data<float>();
  const uint8_t* px = bytes.data() + 16;
  for (int64_t i = 0, total = n * kSide * kSide; i < total; ++i) out[i] = float(px[i]) / 255.0f;
  return images;
}

Tensor read_labels(const std::string& path) {
  const std::vector<uint8_t> bytes = detail::read_file_bytes(path, "load_mnist");
  KILN_CHECK(bytes.size() >= 4, "load_mnist: '", path, "' is ", bytes.size(),
             " bytes, shorter than the 8-byte header of an idx1 labels file");
  const uint32_t magic = detail::read_be32(bytes.data());
  KILN_CHECK(magic == kLabelsMagic, "load_mnist: '", path,
             "' is not an idx1 labels file: expected magic number 2049 (0x00000801), found ", magic,
             magic_hint(magic));
  KILN_CHECK(bytes.size() >= 8, "load_mnist: '", path, "' is ", bytes.size(),
             " bytes, shorter than the 8-byte header of an idx1 labels file");
  const int64_t n = detail::read_be32(bytes.data() + 4);
  KILN_CHECK(int64_t(bytes.size()) == 8 + n, "load_mnist: '", path, "': the header announces ", n,
             " labels, which take ", 8 + n, " bytes, but the file has ", bytes.size(), " bytes",
             int64_t(bytes.size()) < 8 + n ? " (truncated)" : " (trailing data)");
  Tensor labels = empty({n}, DType::Int64);
  int64_t* out = labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t v = bytes[size_t(8 + i)];
    KILN_CHECK(v < kClasses, "load_mnist: '", path, "': label ", int(v), " at index ", i,
               " is outside 0..9");
    out[i] = v;
  }
  return labels;
}

// <dir>/<name> or <dir>/<name>.gz.
std::string find_file(const std::string& dir, const std::string& name) {
  const std::string base = dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
  for (const std::string& p : {base, base + ".gz"})
    if (detail::file_exists(p)) return p;
  KILN_CHECK(false, "load_mnist: neither '", base, "' nor '", base, ".gz' exists");
  return {};
}

}  // namespace

TensorDataset load_mnist_idx(const std::string& images_path, const std::string& labels_path) {
  Tensor images = read_images(images_path);
  Tensor labels = read_labels(labels_path);
  KILN_CHECK(images.size(0) == labels.size(0), "load_mnist: '", images_path, "' has ",
             images.size(0), " images but '", labels_path, "' has ", labels.size(0),
             " labels; expected the same count");
  return TensorDataset(images, labels);
}

TensorDataset load_mnist(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_file(dir, prefix + "-labels-idx1-ubyte");
  return load_mnist_idx(images, labels);
}

}  // namespace kiln::data
