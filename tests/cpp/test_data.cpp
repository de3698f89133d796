// kiln::data: datasets, the loader (batching, shuffling, epochs, prefetch thread), transforms,
// the MNIST and CIFAR-10 readers, and the synthetic digits.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include "test_util.h"

namespace kiln::testing {
namespace {

using namespace kiln::data;
namespace fs = std::filesystem;

// ---------------- helpers ----------------

// Example i: input [2] = {i, 10 i}, target i (int64).
std::shared_ptr<TensorDataset> range_dataset(int64_t n) {
  Tensor idx = arange(0, double(n), 1, DType::Float32);
  Tensor inputs = stack({idx, idx * 10}, 1);
  return std::make_shared<TensorDataset>(inputs, arange(0, double(n)));
}

// The targets of every batch of one pass, in order.
std::vector<std::vector<int64_t>> pass_targets(DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  for (const Example& b : loader) {
    std::vector<int64_t> t;
    for (double v : b.target.to_vector()) t.push_back(int64_t(v));
    out.push_back(t);
  }
  return out;
}

std::vector<int64_t> flat(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

// A dataset built per example (so batches go through Dataset::get_batch's stacking) that counts
// its calls, notes the threads it ran on, can be slow and can fail at one index.
class ProbeDataset : public Dataset {
 public:
  explicit ProbeDataset(int64_t n, int64_t fail_at = -1, int delay_us = 0)
      : n_(n), fail_at_(fail_at), delay_us_(delay_us) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    calls_++;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      threads_.insert(std::this_thread::get_id());
    }
    if (delay_us_) std::this_thread::sleep_for(std::chrono::microseconds(delay_us_));
    KILN_CHECK(i != fail_at_, "ProbeDataset: example ", i, " is unreadable");
    return {full({3}, double(i)), scalar_tensor(i, DType::Int64)};
  }
  int64_t calls() const { return calls_; }
  std::set<std::thread::id> threads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_;
  }

 private:
  int64_t n_, fail_at_;
  int delay_us_;
  mutable std::atomic<int64_t> calls_{0};
  mutable std::mutex mutex_;
  mutable std::set<std::thread::id> threads_;
};

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("kiln_test_data_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void gzip_file(const std::string& path) {  // path -> path.gz
  ASSERT_EQ(std::system(("gzip -n -f '" + path + "'").c_str()), 0);
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
}

// An idx3 file of n rows x cols images whose pixel j of image i is (i * 7 + j) % 256.
std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows = 28, uint32_t cols = 28,
                                uint32_t magic = 0x803) {
  std::vector<uint8_t> b;
  put_be32(b, magic);
  put_be32(b, n);
  put_be32(b, rows);
  put_be32(b, cols);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = 0; j < rows * cols; ++j) b.push_back(uint8_t((i * 7 + j) % 256));
  return b;
}

std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels, uint32_t magic = 0x801) {
  std::vector<uint8_t> b;
  put_be32(b, magic);
  put_be32(b, uint32_t(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

// ---------------- datasets ----------------

TEST(Dataset, TensorDatasetIndexesTheFirstDimension) {
  auto ds = range_dataset(5);
  EXPECT_EQ(ds->size(), 5);
  Example e = ds->get(3);
  expect_exact_values(e.input, {2}, {3, 30});
  expect_exact_values(e.target, {}, {3});
  Example b = ds->get_batch({4, 0, 4});
  expect_exact_values(b.input, {3, 2}, {4, 40, 0, 0, 4, 40});
  expect_exact_values(b.target, {3}, {4, 0, 4});
  EXPECT_THROW_MSG(ds->get(5), ValueError, "index 5", "5 examples");
  EXPECT_THROW_MSG(ds->get_batch({1, -1}), ValueError, "index -1");
  EXPECT_THROW_MSG(TensorDataset(zeros({4, 2}), zeros({3})), ValueError, "4 examples",
                   "targets have 3");
}

TEST(Dataset, DefaultGetBatchStacksExamples) {
  ProbeDataset ds(6);
  Example b = ds.get_batch({5, 2});
  expect_exact_values(b.input, {2, 3}, {5, 5, 5, 2, 2, 2});
  EXPECT_EQ(b.target.dtype(), DType::Int64);
  expect_exact_values(b.target, {2}, {5, 2});
}

TEST(Dataset, RandomSplitIsADeterministicPartition) {
  auto ds = range_dataset(100);
  auto parts = random_split(ds, {70, 20, 10}, 42);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0]->size(), 70);
  EXPECT_EQ(parts[1]->size(), 20);
  EXPECT_EQ(parts[2]->size(), 10);
  std::vector<int64_t> all;
  for (const auto& p : parts)
    for (int64_t i = 0; i < p->size(); ++i) all.push_back(int64_t(p->get(i).target.item()));
  std::vector<int64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> expected(100);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(sorted, expected);  // disjoint and complete
  EXPECT_NE(all, expected);     // and shuffled
  // Same seed, same split; another seed, another split.
  EXPECT_EQ(random_split(ds, {70, 20, 10}, 42)[1]->indices(), parts[1]->indices());
  EXPECT_NE(random_split(ds, {70, 20, 10}, 43)[1]->indices(), parts[1]->indices());
  // A subset's batch maps through its indices.
  Example b = parts[2]->get_batch({0, 9});
  expect_exact_values(b.target, {2},
                      {double(parts[2]->indices()[0]), double(parts[2]->indices()[9])});
  EXPECT_THROW_MSG(random_split(ds, {50, 49}, 0), ValueError, "sum to 99", "100 examples");
  EXPECT_THROW_MSG(Subset(ds, {100}), ValueError, "index 100");
}

// ---------------- the loader ----------------

TEST(DataLoader, BatchesInOrderWithAShortLastBatch) {
  auto ds = range_dataset(10);
  DataLoader loader(ds, 4);
  EXPECT_EQ(loader.size(), 3);
  std::vector<Shape> shapes;
  std::vector<std::vector<int64_t>> targets;
  for (const Example& b : loader) {
    shapes.push_back(b.input.shape());
    std::vector<int64_t> t;
    for (double v : b.target.to_vector()) t.push_back(int64_t(v));
    targets.push_back(t);
    // Inputs travel with their targets.
    auto in = b.input.to_vector();
    for (size_t k = 0; k < t.size(); ++k) {
      EXPECT_EQ(in[2 * k], double(t[k]));
      EXPECT_EQ(in[2 * k + 1], 10.0 * double(t[k]));
    }
  }
  EXPECT_EQ(shapes, (std::vector<Shape>{{4, 2}, {4, 2}, {2, 2}}));
  EXPECT_EQ(targets, (std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}));
}

TEST(DataLoader, DropLast) {
  auto ds = range_dataset(10);
  DataLoader loader(ds, 4, /*shuffle=*/true, /*seed=*/3, /*drop_last=*/true);
  EXPECT_EQ(loader.size(), 2);
  auto batches = pass_targets(loader);
  ASSERT_EQ(batches.size(), 2u);
  for (const auto& b : batches) EXPECT_EQ(b.size(), 4u);
  DataLoader exact(range_dataset(8), 4, false, 0, true);
  EXPECT_EQ(pass_targets(exact).size(), 2u);
  DataLoader too_small(range_dataset(3), 4, false, 0, true);
  EXPECT_EQ(too_small.size(), 0);
  EXPECT_TRUE(pass_targets(too_small).empty());
  EXPECT_THROW_MSG(DataLoader(ds, 0), ValueError, "batch_size must be positive");
}

TEST(DataLoader, ShuffleIsDeterministicPerSeedAndEpoch) {
  auto ds = range_dataset(50);
  DataLoader a(ds, 8, true, 123), b(ds, 8, true, 123), c(ds, 8, true, 124);
  // The global generator is not touched by shuffling.
  manual_seed(9);
  const uint64_t offset = Generator::default_generator().offset();

  auto a0 = pass_targets(a), a1 = pass_targets(a), a2 = pass_targets(a);
  EXPECT_EQ(a.epoch(), 3);
  auto b0 = pass_targets(b), b1 = pass_targets(b);
  EXPECT_EQ(a0, b0);
  EXPECT_EQ(a1, b1);
  EXPECT_NE(a0, a1);  // a new order every epoch
  EXPECT_NE(a1, a2);
  EXPECT_NE(pass_targets(c), a0);  // another seed, another order
  std::vector<int64_t> sorted = flat(a1), expected(50);
  std::sort(sorted.begin(), sorted.end());
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(sorted, expected);  // each epoch is a permutation
  // set_epoch replays an epoch, and indices() tells the order in advance.
  a.set_epoch(1);
  EXPECT_EQ(pass_targets(a), a1);
  EXPECT_EQ(a.epoch(), 2);
  EXPECT_EQ(a.indices(2), flat(a2));
  // Without shuffle the order is 0..n-1 every epoch.
  DataLoader plain(ds, 8);
  EXPECT_EQ(flat(pass_targets(plain)), expected);
  EXPECT_EQ(flat(pass_targets(plain)), expected);

  EXPECT_EQ(Generator::default_generator().offset(), offset);
}

TEST(DataLoader, PrefetchRunsOnAnotherThreadAndGivesTheSameBatches) {
  auto probe = std::make_shared<ProbeDataset>(20);
  DataLoader with(probe, 3, true, 5, false, /*prefetch=*/true);
  auto batches = pass_targets(with);
  auto threads = probe->threads();
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);

  auto probe2 = std::make_shared<ProbeDataset>(20);
  DataLoader without(probe2, 3, true, 5, false, /*prefetch=*/false);
  EXPECT_EQ(pass_targets(without), batches);
  EXPECT_EQ(probe2->threads(), std::set<std::thread::id>{std::this_thread::get_id()});
  EXPECT_EQ(probe->calls(), 20);
  EXPECT_EQ(probe2->calls(), 20);
}

TEST(DataLoader, StopsItsThreadWhenAPassEndsEarly) {
  auto probe = std::make_shared<ProbeDataset>(1000, -1, /*delay_us=*/1000);
  DataLoader loader(probe, 10, true, 1);
  const auto start = std::chrono::steady_clock::now();
  int seen = 0;
  for (const Example& b : loader) {
    EXPECT_EQ(b.input.size(0), 10);
    if (++seen == 2) break;  // the iterator dies here, mid-epoch, with a batch in preparation
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Two batches consumed, at most one ready and one in preparation when it stopped: the worker
  // did not run on through the epoch (100 batches, over 1 s).
  EXPECT_LE(probe->calls(), 40);
  EXPECT_LT(seconds, 0.5);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t after = probe->calls();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(probe->calls(), after);  // nothing runs any more

  // An iterator outlives its loader.
  std::optional<DataLoader::Iterator> it;
  {
    DataLoader short_lived(range_dataset(7), 2);
    it = short_lived.begin();
  }
  std::vector<int64_t> got;
  for (; *it != DataLoader::Iterator(); ++*it)
    for (double v : (**it).target.to_vector()) got.push_back(int64_t(v));
  EXPECT_EQ(got, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  // Dropping an iterator that was never advanced, or a second pass begun while the first is
  // alive, is fine too.
  auto p1 = loader.begin();
  auto p2 = loader.begin();
  EXPECT_NE(p1.epoch(), p2.epoch());
}

TEST(DataLoader, WorkerExceptionsReachTheConsumer) {
  for (bool prefetch : {true, false}) {
    SCOPED_TRACE(prefetch ? "prefetch" : "no prefetch");
    auto probe = std::make_shared<ProbeDataset>(12, /*fail_at=*/7);
    DataLoader loader(probe, 3, false, 0, false, prefetch);
    int delivered = 0;
    EXPECT_THROW_MSG(
        for (const Example& b
             : loader) {
          (void)b;
          ++delivered;
        },
        Error, "example 7 is unreadable");
    EXPECT_EQ(delivered, 2);  // batches [0..2] and [3..5]; [6..8] fails
    // The failing batch ends the pass; the iterator is left at the end.
    auto it = loader.begin();
    ++it;
    EXPECT_THROW(++it, Error);
    EXPECT_TRUE(it == loader.end());
  }
  // A failure in the first batch surfaces from begin().
  DataLoader first(std::make_shared<ProbeDataset>(4, 0), 2);
  EXPECT_THROW_MSG(first.begin(), Error, "example 0");
}

TEST(DataLoader, TransformsAreSeededPerEpochAndBatch) {
  auto ds = std::make_shared<TensorDataset>(rand({40, 1, 6, 6}), arange(0, 40));
  auto make = [&](bool prefetch) {
    DataLoader l(ds, 8, true, 77, false, prefetch);
    l.set_transform(transforms::Compose(
        {transforms::random_crop(6, 2), transforms::random_horizontal_flip(0.5)}));
    return l;
  };
  DataLoader a = make(true), b = make(false);
  std::vector<Tensor> ea, eb, ea1;
  for (const Example& x : a) ea.push_back(x.input);
  for (const Example& x : b) eb.push_back(x.input);
  for (const Example& x : a) ea1.push_back(x.input);
  ASSERT_EQ(ea.size(), 5u);
  for (size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(ea[i].shape(), (Shape{8, 1, 6, 6}));
    EXPECT_TRUE(equal(ea[i], eb[i])) << "batch " << i;    // same with or without prefetch
    EXPECT_FALSE(equal(ea[i], ea1[i])) << "batch " << i;  // another epoch, other draws
  }
  // The transform changed the data (crops shift it, padding brings zeros).
  Tensor untouched = ds->get_batch(a.indices(0)).input;
  EXPECT_FALSE(equal(cat(ea), untouched));
}

// ---------------- transforms ----------------

TEST(Transforms, Normalize) {
  Tensor x = tensor({1, 2, 3, 4, 10, 20, 30, 40}, {2, 2, 2});  // [C=2, H=2, W=2]
  expect_values(normalize(x, {2, 20}, {0.5, 10}), {2, 2, 2}, {-2, 0, 2, 4, -1, 0, 1, 2});
  Tensor batch = stack({x, x * 2});
  Tensor nb = normalize(batch, {2, 20}, {0.5, 10});
  expect_values(nb.select(1, 1), {2, 2, 2}, {-1, 0, 1, 2, 0, 2, 4, 6});
  // uint8 images become float.
  Tensor u8 = tensor(std::vector<int64_t>{0, 255}, {1, 1, 2}, DType::UInt8);
  Tensor nu = normalize(u8, {127.5}, {127.5});
  EXPECT_EQ(nu.dtype(), DType::Float32);
  expect_values(nu, {1, 1, 2}, {-1, 1});
  EXPECT_THROW_MSG(normalize(x, {1, 2, 3}, {1, 1, 1}), ValueError, "3 per-channel", "2 channels");
  EXPECT_THROW_MSG(normalize(x, {1, 2}, {1, 0}), ValueError, "zero");
  EXPECT_THROW_MSG(normalize(zeros({4}), {0}, {1}), ValueError, "[C, H, W]", "[4]");
}

TEST(Transforms, RandomCropPadsWithZerosAndCutsAWindow) {
  // Image 1..16 on a 4x4 grid, padded by 2 to 8x8, cropped to 4x4: every crop is the window
  // of the padded image at some offset.
  Tensor img = arange(1, 17, 1, DType::Float32).reshape({1, 4, 4});
  std::mt19937_64 gen(11);
  std::set<std::pair<int, int>> offsets_seen;
  for (int trial = 0; trial < 200; ++trial) {
    Tensor c = random_crop(img, 4, 2, gen);
    ASSERT_EQ(c.shape(), (Shape{1, 4, 4}));
    auto v = c.to_vector();
    bool matched = false;
    for (int top = 0; top <= 4 && !matched; ++top)
      for (int left = 0; left <= 4 && !matched; ++left) {
        bool ok = true;
        for (int y = 0; y < 4 && ok; ++y)
          for (int x = 0; x < 4 && ok; ++x) {
            const int iy = top + y - 2, ix = left + x - 2;
            const double want = (iy >= 0 && iy < 4 && ix >= 0 && ix < 4) ? iy * 4 + ix + 1 : 0;
            ok = v[size_t(y * 4 + x)] == want;
          }
        if (ok) {
          matched = true;
          offsets_seen.insert({top, left});
        }
      }
    ASSERT_TRUE(matched) << c;
  }
  EXPECT_EQ(offsets_seen.size(), 25u);  // all 5x5 offsets occur
  // No padding, full size: the identity. The same generator state gives the same crops.
  std::mt19937_64 g1(5);
  EXPECT_TRUE(equal(random_crop(img, 4, 0, g1), img));
  Tensor batch = rand({16, 3, 5, 5});
  std::mt19937_64 g3(8), g4(8);
  Tensor c3 = random_crop(batch, 3, 1, g3);
  EXPECT_TRUE(equal(c3, random_crop(batch, 3, 1, g4)));
  EXPECT_EQ(c3.shape(), (Shape{16, 3, 3, 3}));
  // The channels of one example share its window; examples draw their own.
  Tensor two = stack({batch.select(1, 0), batch.select(1, 0) * 2}, 1);
  Tensor c2 = random_crop(two, 3, 1, g3);
  EXPECT_TRUE(equal(c2.select(1, 1), c2.select(1, 0) * 2));
  Tensor same = random_crop(stack(std::vector<Tensor>(16, img)), 4, 2, g3);
  int differing = 0;
  for (int64_t i = 1; i < 16; ++i) differing += !equal(same.select(0, i), same.select(0, 0));
  EXPECT_GT(differing, 10);
  // Integer images crop too.
  Tensor ints = arange(0, 16).reshape({1, 4, 4});
  EXPECT_EQ(random_crop(ints, 2, 0, g3).dtype(), DType::Int64);
  EXPECT_THROW_MSG(random_crop(img, 9, 2, g3), ValueError, "9x9", "4x4", "padded by 2");
}

TEST(Transforms, RandomHorizontalFlip) {
  Tensor img = arange(0, 12, 1, DType::Float32).reshape({2, 2, 3});
  Tensor mirrored = tensor({2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9}, {2, 2, 3});
  std::mt19937_64 gen(1);
  EXPECT_TRUE(equal(random_horizontal_flip(img, 1.0, gen), mirrored));
  EXPECT_TRUE(equal(random_horizontal_flip(img, 0.0, gen), img));
  expect_exact_values(img.flatten(), {12}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});  // untouched
  // In a batch each example is flipped or not on its own draw.
  Tensor batch = stack(std::vector<Tensor>(64, img));
  Tensor out = random_horizontal_flip(batch, 0.5, gen);
  int flipped = 0;
  for (int64_t i = 0; i < 64; ++i) {
    Tensor e = out.select(0, i);
    const bool f = equal(e, mirrored);
    EXPECT_TRUE(f || equal(e, img)) << i;
    flipped += f;
  }
  EXPECT_GT(flipped, 16);
  EXPECT_LT(flipped, 48);
}

TEST(Transforms, GaussianNoise) {
  Tensor x = full({200, 1, 10, 10}, 3.0);
  std::mt19937_64 g1(4), g2(4);
  Tensor y = gaussian_noise(x, 0.5, g1);
  EXPECT_TRUE(equal(y, gaussian_noise(x, 0.5, g2)));
  Tensor d = y - x;
  EXPECT_NEAR(mean(d).item(), 0.0, 0.01);
  EXPECT_NEAR(kiln::std(d).item(), 0.5, 0.01);
  EXPECT_THROW_MSG(gaussian_noise(zeros({2}, DType::Int64), 1.0, g1), TypeError, "floating");
}

TEST(Transforms, ComposeAppliesInOrder) {
  Tensor img = tensor({1, 2, 3, 4}, {1, 2, 2});
  std::mt19937_64 gen(0);
  transforms::Compose c({transforms::random_horizontal_flip(1.0), transforms::normalize({1}, {2})});
  expect_values(c(img, gen), {1, 2, 2}, {0.5, 0, 1.5, 1});
}

// ---------------- MNIST ----------------

const std::string kMnistDir = KILN_SOURCE_DIR "/../shared/data/mnist-t10k";

TEST(Mnist, RealTestSet) {
  if (!fs::exists(kMnistDir + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "the MNIST test set is not at " << kMnistDir;
  const auto start = std::chrono::steady_clock::now();
  TensorDataset ds = load_mnist(kMnistDir, /*train=*/false);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 5.0);
  const Tensor& images = ds.inputs();
  const Tensor& labels = ds.targets();
  EXPECT_EQ(images.shape(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(images.dtype(), DType::Float32);
  EXPECT_EQ(labels.shape(), (Shape{10000}));
  EXPECT_EQ(labels.dtype(), DType::Int64);
  // Expected values computed with Python from the same files:
  //   im = gzip.open('t10k-images-idx3-ubyte.gz').read()[16:]
  //   lb = gzip.open('t10k-labels-idx1-ubyte.gz').read()[8:]
  //   list(lb[:10]) -> [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
  //   sum(im[:784]) -> 18454, sum(im[784:1568]) -> 28850, sum(im[-784:]) -> 41833
  //   sum(im) -> 264923200, [lb.count(i) for i in range(10)], im[7*28+7] -> 185
  expect_exact_values(labels.narrow(0, 0, 10), {10}, {7, 2, 1, 0, 4, 1, 4, 9, 5, 9});
  EXPECT_NEAR(images.select(0, 0).sum().item(), 18454 / 255.0, 1e-3);
  EXPECT_NEAR(images.select(0, 1).sum().item(), 28850 / 255.0, 1e-3);
  EXPECT_NEAR(images.select(0, 9999).sum().item(), 41833 / 255.0, 1e-3);
  EXPECT_NEAR(sum(images, {}, false, DType::Float64).item(), 264923200 / 255.0, 1e-2);
  EXPECT_FLOAT_EQ(float(images.select(0, 0).select(0, 0).select(0, 7).select(0, 7).item()),
                  185.0f / 255.0f);
  EXPECT_EQ(amax(images).item(), 1.0);
  EXPECT_EQ(amin(images).item(), 0.0);
  const std::vector<double> counts = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
  expect_exact_values(sum(one_hot(labels, 10), {0}), {10}, counts);
  // Explicit paths give the same data.
  TensorDataset again = load_mnist_idx(kMnistDir + "/t10k-images-idx3-ubyte.gz",
                                       kMnistDir + "/t10k-labels-idx1-ubyte.gz");
  EXPECT_TRUE(equal(again.targets(), labels));
  // The directory holds no training set.
  EXPECT_THROW_MSG(load_mnist(kMnistDir, true), Error, "train-images-idx3-ubyte", ".gz", "exists");
}

TEST(Mnist, ReadsRawAndGzipFiles) {
  TempDir dir;
  write_bytes(dir.file("train-images-idx3-ubyte"), idx_images(3));
  write_bytes(dir.file("train-labels-idx1-ubyte"), idx_labels({4, 0, 9}));
  TensorDataset raw = load_mnist(dir.str());
  EXPECT_EQ(raw.inputs().shape(), (Shape{3, 1, 28, 28}));
  expect_exact_values(raw.targets(), {3}, {4, 0, 9});
  // Pixel j of image i is (7 i + j) % 256.
  auto px = raw.inputs().select(0, 2).flatten().to_vector();
  for (int j : {0, 5, 300, 783})
    EXPECT_FLOAT_EQ(float(px[size_t(j)]), float((14 + j) % 256) / 255.0f);
  gzip_file(dir.file("train-images-idx3-ubyte"));
  gzip_file(dir.file("train-labels-idx1-ubyte"));
  ASSERT_FALSE(fs::exists(dir.file("train-images-idx3-ubyte")));
  TensorDataset gz = load_mnist(dir.str(), true);
  EXPECT_TRUE(equal(gz.inputs(), raw.inputs()));
  EXPECT_TRUE(equal(gz.targets(), raw.targets()));
}

TEST(Mnist, MalformedFiles) {
  TempDir dir;
  const std::string im = dir.file("im"), lb = dir.file("lb");
  write_bytes(lb, idx_labels({1, 2, 3}));
  auto expect_images_error = [&](const std::vector<uint8_t>& bytes,
                                 std::vector<std::string> parts) {
    write_bytes(im, bytes);
    parts.push_back(im);
    expect_contains(error_message([&] { load_mnist_idx(im, lb); }), parts);
  };
  // Bad magic numbers: a labels file where images belong, and noise.
  expect_images_error(idx_labels({1, 2, 3}),
                      {"expected magic number 2051", "found 2049", "labels file"});
  expect_images_error(idx_images(3, 28, 28, 0x12345678),
                      {"expected magic number 2051", "found 305419896"});
  expect_images_error({1, 2, 3}, {"3 bytes", "16-byte header"});
  expect_images_error(idx_images(3, 27, 28), {"expected 28x28 images", "found 27x28"});
  auto truncated = idx_images(3);
  truncated.resize(truncated.size() - 100);
  expect_images_error(truncated, {"announces 3 images", "2368 bytes", "2268 bytes", "truncated"});
  auto trailing = idx_images(3);
  trailing.push_back(0);
  expect_images_error(trailing, {"2369 bytes", "trailing data"});

  // Labels: bad magic, a label out of range, truncation, and a count that differs.
  write_bytes(im, idx_images(3));
  auto expect_labels_error = [&](const std::vector<uint8_t>& bytes,
                                 std::vector<std::string> parts) {
    write_bytes(lb, bytes);
    parts.push_back(lb);
    expect_contains(error_message([&] { load_mnist_idx(im, lb); }), parts);
  };
  expect_labels_error(idx_images(1), {"expected magic number 2049", "found 2051", "images file"});
  expect_labels_error(idx_labels({1, 10, 3}), {"label 10 at index 1", "outside 0..9"});
  auto short_labels = idx_labels({1, 2, 3});
  short_labels.pop_back();
  expect_labels_error(short_labels, {"announces 3 labels", "11 bytes", "10 bytes", "truncated"});
  write_bytes(lb, idx_labels({1, 2}));
  expect_contains(error_message([&] { load_mnist_idx(im, lb); }),
                  {im, "3 images", lb, "2 labels", "same count"});

  // A gzip file cut short, and one with corrupt data.
  write_bytes(lb, idx_labels({1, 2, 3}));
  write_bytes(dir.file("big"), idx_images(50));
  gzip_file(dir.file("big"));
  auto gz = read_bytes(dir.file("big.gz"));
  ASSERT_GT(gz.size(), 200u);
  std::vector<uint8_t> cut(gz.begin(), gz.begin() + std::ptrdiff_t(gz.size() / 2));
  expect_images_error(cut, {"cannot read", "truncated or corrupt"});
  auto corrupt = gz;
  for (size_t i = 20; i < 60; ++i) corrupt[i] ^= 0x5a;
  expect_images_error(corrupt, {"cannot read", "truncated or corrupt"});
  // Missing files.
  EXPECT_THROW_MSG(load_mnist_idx(dir.file("nope"), lb), Error, "cannot open", dir.file("nope"));
  EXPECT_THROW_MSG(load_mnist(dir.str() + "/empty", false), Error, "t10k-images-idx3-ubyte",
                   "t10k-images-idx3-ubyte.gz");
}

// ---------------- CIFAR-10 ----------------

// Record i: label (3 i + 1) % 10, pixel j = (i + 5 j) % 256.
std::vector<uint8_t> cifar_records(int first, int n) {
  std::vector<uint8_t> b;
  for (int i = first; i < first + n; ++i) {
    b.push_back(uint8_t((3 * i + 1) % 10));
    for (int j = 0; j < 3072; ++j) b.push_back(uint8_t((i + 5 * j) % 256));
  }
  return b;
}

TEST(Cifar10, ReadsBatchFiles) {
  TempDir dir;
  write_bytes(dir.file("test_batch.bin"), cifar_records(0, 4));
  TensorDataset test = load_cifar10(dir.str(), false);
  EXPECT_EQ(test.inputs().shape(), (Shape{4, 3, 32, 32}));
  EXPECT_EQ(test.inputs().dtype(), DType::Float32);
  expect_exact_values(test.targets(), {4}, {1, 4, 7, 0});
  // Pixel (c, y, x) of record i is stored at j = c * 1024 + y * 32 + x.
  Tensor img = test.inputs().select(0, 3);
  for (auto [c, y, x] : {std::array<int, 3>{0, 0, 0}, {1, 2, 3}, {2, 31, 31}}) {
    const int j = c * 1024 + y * 32 + x;
    EXPECT_FLOAT_EQ(float(img.select(0, c).select(0, y).select(0, x).item()),
                    float((3 + 5 * j) % 256) / 255.0f);
  }
  // The training set is five files, concatenated in order.
  for (int k = 1; k <= 5; ++k)
    write_bytes(dir.file("data_batch_" + std::to_string(k) + ".bin"), cifar_records(2 * k, 2));
  TensorDataset train = load_cifar10(dir.str(), true);
  EXPECT_EQ(train.size(), 10);
  expect_exact_values(train.targets(), {10}, {7, 0, 3, 6, 9, 2, 5, 8, 1, 4});
  // Errors: a partial record, a label out of range, a missing batch.
  auto partial = cifar_records(0, 2);
  partial.resize(partial.size() - 1);
  write_bytes(dir.file("p.bin"), partial);
  EXPECT_THROW_MSG(load_cifar10_batch(dir.file("p.bin")), Error, dir.file("p.bin"), "6145 bytes",
                   "multiple of 3073", "1 whole records and 3072 bytes left over");
  auto bad_label = cifar_records(0, 2);
  bad_label[3073] = 12;
  write_bytes(dir.file("l.bin"), bad_label);
  EXPECT_THROW_MSG(load_cifar10_batch(dir.file("l.bin")), Error, "label 12 of record 1");
  write_bytes(dir.file("e.bin"), {});
  EXPECT_THROW_MSG(load_cifar10_batch(dir.file("e.bin")), Error, "0 bytes");
  fs::remove(dir.file("data_batch_4.bin"));
  EXPECT_THROW_MSG(load_cifar10(dir.str(), true), Error, "data_batch_4.bin", "does not exist");
}

// ---------------- synthetic digits ----------------

TEST(SyntheticDigits, DeterministicAndWellFormed) {
  TensorDataset a = synthetic_digits(300, 7);
  EXPECT_EQ(a.inputs().shape(), (Shape{300, 1, 28, 28}));
  EXPECT_EQ(a.inputs().dtype(), DType::Float32);
  EXPECT_EQ(a.targets().dtype(), DType::Int64);
  EXPECT_GE(amin(a.inputs()).item(), 0.0);
  EXPECT_LE(amax(a.inputs()).item(), 1.0);
  TensorDataset b = synthetic_digits(300, 7);
  EXPECT_TRUE(equal(a.inputs(), b.inputs()));
  EXPECT_TRUE(equal(a.targets(), b.targets()));
  // A longer set extends a shorter one; another seed gives other images.
  TensorDataset c = synthetic_digits(500, 7);
  EXPECT_TRUE(equal(c.inputs().narrow(0, 0, 300), a.inputs()));
  EXPECT_FALSE(equal(synthetic_digits(300, 8).inputs(), a.inputs()));
  // Every digit occurs, roughly equally often; images have ink, mostly in the centre.
  auto counts = sum(one_hot(c.targets(), 10), {0}).to_vector();
  for (double n : counts) EXPECT_GT(n, 25) << "digit counts " << tensor(counts);
  auto ink = sum(c.inputs(), {1, 2, 3}).to_vector();
  for (double v : ink) {
    EXPECT_GT(v, 20.0);
    EXPECT_LT(v, 300.0);
  }
  Tensor per_pixel = mean(c.inputs(), {0, 1});
  // (The background is Gaussian noise clipped at 0, about 0.02 on average.)
  EXPECT_LT(per_pixel.narrow(0, 0, 2).sum().item(), 0.2 * per_pixel.narrow(0, 12, 2).sum().item());
  // Same label, different pictures.
  EXPECT_FALSE(equal(c.inputs().select(0, 0), c.inputs().select(0, 10)));
}

// A two-layer MLP trained with plain SGD on 6000 synthetic digits reaches > 90% accuracy on 1000
// others (drawn with another seed).
TEST(SyntheticDigits, LearnableByAnMlp) {
  const auto start = std::chrono::steady_clock::now();
  auto train = std::make_shared<TensorDataset>(synthetic_digits(6000, 1));
  TensorDataset test = synthetic_digits(1000, 2);
  manual_seed(0);
  Tensor w1 = (randn({784, 128}) * std::sqrt(2.0 / 784)).requires_grad_(true);
  Tensor b1 = zeros({128}).requires_grad_(true);
  Tensor w2 = (randn({128, 10}) * std::sqrt(1.0 / 128)).requires_grad_(true);
  Tensor b2 = zeros({10}).requires_grad_(true);
  auto forward = [&](const Tensor& x) {
    return matmul(relu(matmul(x.flatten(1), w1) + b1), w2) + b2;
  };
  auto accuracy = [&](const TensorDataset& d) {
    NoGradGuard g;
    return mean(eq(argmax(forward(d.inputs()), 1), d.targets()).to(DType::Float32)).item();
  };
  DataLoader loader(train, 64, /*shuffle=*/true, /*seed=*/3);
  const double lr = 0.1;
  for (int epoch = 0; epoch < 4; ++epoch) {
    for (const Example& batch : loader) {
      Tensor logp = log_softmax(forward(batch.input), 1);
      Tensor loss = -mean(gather(logp, 1, batch.target.unsqueeze(1)));
      loss.backward();
      NoGradGuard g;
      for (Tensor* p : {&w1, &b1, &w2, &b2}) {
        p->sub_(p->grad() * lr);
        p->set_grad(Tensor());
      }
    }
  }
  const double train_acc = accuracy(*train), test_acc = accuracy(test);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "synthetic digits: train accuracy " << train_acc << ", test accuracy " << test_acc
            << ", " << seconds << " s\n";
  EXPECT_GT(test_acc, 0.9);
  // Before training the same network is at chance.
  manual_seed(0);
  w1 = randn({784, 128}) * std::sqrt(2.0 / 784);
  b1 = zeros({128});
  w2 = randn({128, 10}) * std::sqrt(1.0 / 128);
  b2 = zeros({10});
  EXPECT_LT(accuracy(test), 0.3);
}

}  // namespace
}  // namespace kiln::testing
