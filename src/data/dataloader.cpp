#include "kiln/data/dataloader.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "data/rng.h"
#include "kiln/autograd.h"

namespace kiln::data {

namespace {
// Stream tags that keep the shuffle and transform generators of one epoch independent.
constexpr uint64_t kShuffleStream = 0x5348554646ull;
constexpr uint64_t kTransformStream = 0x5452414e53ull;
}  // namespace

namespace detail {

// One epoch: the example order, and (with prefetch) a worker thread that prepares batches in
// order into a queue of at most one ready batch, so it works one batch ahead of the consumer.
class Pass {
 public:
  Pass(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> order, int64_t batch_size,
       int64_t num_batches, Transform transform, uint64_t seed, int64_t epoch, bool prefetch)
      : dataset_(std::move(dataset)),
        order_(std::move(order)),
        batch_size_(batch_size),
        num_batches_(num_batches),
        transform_(std::move(transform)),
        seed_(seed),
        epoch_(epoch) {
    if (prefetch && num_batches_ > 0) worker_ = std::thread([this] { run(); });
  }

  ~Pass() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();  // the worker finishes the batch it is on, if any, and leaves
  }
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;

  int64_t num_batches() const { return num_batches_; }
  int64_t epoch() const { return epoch_; }

  // Batch k, k = 0, 1, 2, ... in order.
  Example next(int64_t k) {
    if (!worker_.joinable()) return make_batch(k);
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !ready_.empty(); });
    Slot slot = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    cv_.notify_all();  // room for the worker's next batch
    if (slot.error) std::rethrow_exception(slot.error);
    KILN_CHECK(slot.index == k, "DataLoader: internal error: batch ", slot.index,
               " arrived when batch ", k, " was expected");
    return std::move(slot.batch);
  }

 private:
  struct Slot {
    int64_t index = 0;
    Example batch;
    std::exception_ptr error;
  };
  static constexpr size_t kDepth = 1;  // batches prepared ahead of the consumer

  Example make_batch(int64_t k) const {
    NoGradGuard no_grad;  // data preparation records no history
    const int64_t begin = k * batch_size_;
    const int64_t end = std::min<int64_t>(begin + batch_size_, int64_t(order_.size()));
    std::vector<int64_t> idx(order_.begin() + begin, order_.begin() + end);
    Example b = dataset_->get_batch(idx);
    if (transform_) {
      std::mt19937_64 gen(derive_seed(seed_, kTransformStream, uint64_t(epoch_), uint64_t(k)));
      b.input = transform_(b.input, gen);
    }
    return b;
  }

  void run() {
    for (int64_t k = 0; k < num_batches_; ++k) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || ready_.size() < kDepth; });
        if (stop_) return;
      }
      Slot slot;
      slot.index = k;
      try {
        slot.batch = make_batch(k);
      } catch (...) {
        slot.error = std::current_exception();
      }
      const bool failed = slot.error != nullptr;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(slot));
      }
      cv_.notify_all();
      if (failed) return;  // the consumer rethrows it when it reaches batch k
    }
  }

  const std::shared_ptr<const Dataset> dataset_;
  const std::vector<int64_t> order_;
  const int64_t batch_size_;
  const int64_t num_batches_;
  const Transform transform_;
  const uint64_t seed_;
  const int64_t epoch_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Slot> ready_;
  bool stop_ = false;
  std::thread worker_;  // last: started after everything it reads is built
};

}  // namespace detail

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, int64_t batch_size, bool shuffle,
                       uint64_t seed, bool drop_last, bool prefetch)
    : dataset_(std::move(dataset)),
      batch_size_(batch_size),
      shuffle_(shuffle),
      seed_(seed),
      drop_last_(drop_last),
      prefetch_(prefetch) {
  KILN_CHECK_VALUE(dataset_ != nullptr, "DataLoader: null dataset");
  KILN_CHECK_VALUE(batch_size_ > 0, "DataLoader: batch_size must be positive, got ", batch_size_);
}

DataLoader& DataLoader::set_transform(Transform transform) {
  transform_ = std::move(transform);
  return *this;
}

DataLoader& DataLoader::set_sampler(std::shared_ptr<const Sampler> sampler) {
  KILN_CHECK_VALUE(!sampler || !shuffle_,
                   "DataLoader: sampler option is mutually exclusive with shuffle");
  sampler_ = std::move(sampler);
  return *this;
}

int64_t DataLoader::size() const {
  const int64_t n = sampler_ ? sampler_->size() : dataset_->size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

std::vector<int64_t> DataLoader::indices(int64_t epoch) const {
  if (sampler_) return sampler_->indices(epoch);
  const int64_t n = dataset_->size();
  if (!shuffle_) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
    return order;
  }
  std::mt19937_64 gen(detail::derive_seed(seed_, kShuffleStream, uint64_t(epoch)));
  return detail::permutation(n, gen);
}

DataLoader::Iterator DataLoader::begin() {
  const int64_t epoch = next_epoch_++;
  auto pass = std::make_shared<detail::Pass>(dataset_, indices(epoch), batch_size_, size(),
                                             transform_, seed_, epoch, prefetch_);
  return Iterator(std::move(pass));
}

DataLoader::Iterator::Iterator(std::shared_ptr<detail::Pass> pass) : pass_(std::move(pass)) {
  index_ = 0;
  fetch();
}

void DataLoader::Iterator::fetch() {
  if (!pass_) return;
  if (index_ >= pass_->num_batches()) {
    pass_.reset();  // stops and joins the worker
    current_ = Example();
    return;
  }
  try {
    current_ = pass_->next(index_);
  } catch (...) {
    pass_.reset();
    current_ = Example();
    throw;
  }
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  KILN_CHECK(pass_ != nullptr, "DataLoader: incrementing an iterator at the end");
  ++index_;
  fetch();
  return *this;
}

bool DataLoader::Iterator::operator==(const Iterator& other) const {
  if (!pass_ || !other.pass_) return !pass_ && !other.pass_;
  return pass_ == other.pass_ && index_ == other.index_;
}

int64_t DataLoader::Iterator::epoch() const { return pass_ ? pass_->epoch() : -1; }

}  // namespace kiln::data
