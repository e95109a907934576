#include "fhirlake/store/upload_queue.h"

namespace fhirlake::store {

UploadQueue::UploadQueue(ObjectStore& store, std::string prefix) : store_(store) {
  auto listed = ListAll(store_, prefix);
  if (listed.ok()) {
    for (auto& object : *listed) existing_[object.key] = object.size;
  } else {
    listing_ = listed.status();
  }
  worker_ = std::thread([this] { Work(); });
}

UploadQueue::~UploadQueue() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void UploadQueue::Add(std::filesystem::path file, std::string key, bool always) {
  {
    std::lock_guard lock(mutex_);
    items_.push_back({std::move(file), std::move(key), always});
  }
  changed_.notify_all();
}

Status UploadQueue::Finish() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return items_.empty() && !busy_; });
  if (!listing_.ok()) return listing_;
  return first_error_;
}

void UploadQueue::Work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stop_ || !items_.empty(); });
    if (items_.empty()) return;  // stopping, nothing left
    Item item = std::move(items_.front());
    items_.pop_front();
    busy_ = true;
    std::error_code ec;
    uint64_t size = std::filesystem::file_size(item.file, ec);
    auto there = existing_.find(item.key);
    bool skip = !item.always && !ec && there != existing_.end() && there->second == size;
    Status status;
    if (!skip && listing_.ok()) {
      lock.unlock();
      status = UploadFile(store_, item.file, item.key);
      lock.lock();
    }
    if (skip) {
      ++skipped_;
    } else if (status.ok() && listing_.ok()) {
      ++uploaded_;
      bytes_ += size;
      existing_[item.key] = size;
    } else if (first_error_.ok() && !status.ok()) {
      first_error_ = status;
    }
    busy_ = false;
    changed_.notify_all();
  }
}

size_t UploadQueue::files_uploaded() const {
  std::lock_guard lock(mutex_);
  return uploaded_;
}
size_t UploadQueue::files_skipped() const {
  std::lock_guard lock(mutex_);
  return skipped_;
}
uint64_t UploadQueue::bytes_uploaded() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace fhirlake::store
