#include "fhirlake/load/shared_work.h"

#include <algorithm>

namespace fhirlake::load {

void SharedWork::RunItem(Job& job, std::unique_lock<std::mutex>& lock) {
  const size_t i = job.next++;
  if (job.next == job.n) {
    jobs_.erase(std::find(jobs_.begin(), jobs_.end(), &job));
    waiting_ = !jobs_.empty();
  }
  lock.unlock();
  (*job.work)(i);
  lock.lock();
  if (++job.done == job.n) changed_.notify_all();
}

void SharedWork::Run(size_t n, const std::function<void(size_t)>& work) {
  if (n == 0) return;
  Job job{&work, n};
  std::unique_lock lock(mu_);
  jobs_.push_back(&job);
  waiting_ = true;
  changed_.notify_all();
  if (on_post_) {
    lock.unlock();
    on_post_();
    lock.lock();
  }
  while (job.next < job.n) RunItem(job, lock);
  // `job` lives here: until the items other threads are running end, run other jobs' items
  // rather than wait idle (items post no work of their own, so this does not nest).
  while (job.done < job.n) {
    if (!jobs_.empty()) {
      RunItem(*jobs_.front(), lock);
    } else {
      changed_.wait(lock, [&] { return job.done == job.n || !jobs_.empty(); });
    }
  }
}

void SharedWork::Join() {
  std::lock_guard lock(mu_);
  ++active_;
}

void SharedWork::Leave() {
  std::lock_guard lock(mu_);
  --active_;
  changed_.notify_all();
}

void SharedWork::Help() {
  std::unique_lock lock(mu_);
  for (;;) {
    changed_.wait(lock, [&] { return !jobs_.empty() || active_ == 0; });
    if (jobs_.empty()) return;
    RunItem(*jobs_.front(), lock);
  }
}

void SharedWork::HelpWhileWaiting() {
  std::unique_lock lock(mu_);
  while (!jobs_.empty()) RunItem(*jobs_.front(), lock);
}

SharedWorkHelpers::SharedWorkHelpers(SharedWork& work, int threads) : work_(work) {
  work_.Join();
  for (int t = 0; t < threads; ++t) threads_.emplace_back([this] { work_.Help(); });
}

SharedWorkHelpers::~SharedWorkHelpers() {
  work_.Leave();
  for (auto& t : threads_) t.join();
}

}  // namespace fhirlake::load
