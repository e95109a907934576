// load::SharedWork: the column chunks of a row group, encoded by every thread that writes one
// type's rows (the reading thread and its helpers, see ParallelRows) and has nothing else to
// do. A thread that ends its own part early, e.g. the reading thread once the input is read,
// helps encode the others' last row groups instead of waiting for them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "fhirlake/parquet/file_writer.h"

namespace fhirlake::load {

class SharedWork : public parquet::ParallelFor {
 public:
  // Posts work(0) … work(n - 1) for helping threads, runs what they do not take, and returns
  // when all have run.
  void Run(size_t n, const std::function<void(size_t)>& work) override;

  // A thread that may post work joins before it starts and leaves once it posts no more.
  void Join();
  void Leave();
  // Runs posted work until every thread that joined has left and no work is waiting.
  void Help();
  // Runs posted work while there is some not yet taken.
  void HelpWhileWaiting();
  // Whether posted work waits to be taken (a hint: it may be taken meanwhile).
  bool Waiting() const { return waiting_.load(std::memory_order_relaxed); }
  // Called after work is posted, without this object's lock held: for a thread that waits on
  // something else too (see ParallelRows::Help). Set before threads join; null: none.
  void SetOnPost(std::function<void()> on_post) { on_post_ = std::move(on_post); }

 private:
  struct Job {
    const std::function<void(size_t)>* work;
    size_t n, next = 0, done = 0;
  };
  // Runs the next item of `job` (with the lock released while it runs).
  void RunItem(Job& job, std::unique_lock<std::mutex>& lock);

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Job*> jobs_;  // posted jobs with items not yet taken, oldest first
  std::atomic<bool> waiting_{false};  // !jobs_.empty()
  int active_ = 0;                    // threads that joined and have not left
  std::function<void()> on_post_;
};

// Threads that help `work` (SharedWork::Help) while this object lives; the constructing
// thread posts the work.
class SharedWorkHelpers {
 public:
  SharedWorkHelpers(SharedWork& work, int threads);
  ~SharedWorkHelpers();
  SharedWorkHelpers(const SharedWorkHelpers&) = delete;
  SharedWorkHelpers& operator=(const SharedWorkHelpers&) = delete;

 private:
  SharedWork& work_;
  std::vector<std::thread> threads_;
};

}  // namespace fhirlake::load
