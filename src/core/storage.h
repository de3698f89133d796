#pragma once
// A refcounted buffer on one device. Every view of the buffer shares this object, and with it
// the version counter that in-place ops bump (so a saved view notices a write through another).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "kiln/device.h"

namespace kiln {

class Storage {
 public:
  using Deleter = std::function<void(void*)>;
  Storage(void* data, size_t nbytes, Device device, Deleter deleter)
      : data_(data), nbytes_(nbytes), device_(device), deleter_(std::move(deleter)) {}
  ~Storage() {
    if (deleter_ && data_) deleter_(data_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }
  // Set once a view of this storage recorded autograd history: an in-place op recording history
  // on the storage would leave such a view's gradient stale, so it is refused.
  bool has_views_with_history() const { return views_with_history_; }
  void mark_view_with_history() { views_with_history_ = true; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  Deleter deleter_;
  std::atomic<uint64_t> version_{0};
  bool views_with_history_ = false;
};

}  // namespace kiln
