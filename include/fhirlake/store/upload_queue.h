// store::UploadQueue: copies finished local files into an ObjectStore on its own thread while
// the producer (an export's downloads) goes on. Files are streamed through an ObjectWriter in
// 1 MiB reads (multipart uploads on S3), so memory stays bounded whatever their size.
//
// Resume: a file whose object already exists with the same size is not sent again (the store
// is listed once, when the queue starts), so re-running an interrupted export re-sends nothing
// that had arrived.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "fhirlake/store/file_transfer.h"
#include "fhirlake/store/object_store.h"
#include "fhirlake/status.h"

namespace fhirlake::store {

class UploadQueue {
 public:
  // Lists `store` under `prefix` to learn what is already there. `store` must outlive the queue.
  UploadQueue(ObjectStore& store, std::string prefix = {});
  // Finishes the queued uploads and joins the thread.
  ~UploadQueue();
  UploadQueue(const UploadQueue&) = delete;
  UploadQueue& operator=(const UploadQueue&) = delete;

  // Queues `file` for `key`. With `always`, it is sent even when an object of the same size
  // exists (documents that change in place, like a log).
  void Add(std::filesystem::path file, std::string key, bool always = false);

  // Waits until every queued file is uploaded; returns the first failure (the uploads after it
  // still ran).
  [[nodiscard]] Status Finish();

  size_t files_uploaded() const;
  size_t files_skipped() const;
  uint64_t bytes_uploaded() const;

 private:
  struct Item {
    std::filesystem::path file;
    std::string key;
    bool always;
  };
  void Work();

  ObjectStore& store_;
  Status listing_;
  std::map<std::string, uint64_t> existing_;  // key -> size, from the listing and our uploads
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> items_;
  bool busy_ = false;
  bool stop_ = false;
  Status first_error_;
  size_t uploaded_ = 0, skipped_ = 0;
  uint64_t bytes_ = 0;
  std::thread worker_;
};

}  // namespace fhirlake::store
