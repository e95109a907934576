// load::ThreadBudget: how many more threads a load may run. Load() starts one thread per type
// being loaded (at most `jobs`); a thread that finds no type left returns its place, and a
// type whose rows are still being written takes it for a helper that writes part of its rows
// into files of its own. So the largest type uses every core once the others are done,
// without running more than `jobs` writers at once.
#pragma once

#include <atomic>

namespace fhirlake::load {

class ThreadBudget {
 public:
  explicit ThreadBudget(int free) : free_(free) {}
  ThreadBudget(const ThreadBudget&) = delete;
  ThreadBudget& operator=(const ThreadBudget&) = delete;

  // Takes a place when one is free.
  bool TryAcquire() {
    int n = free_.load();
    while (n > 0) {
      if (free_.compare_exchange_weak(n, n - 1)) return true;
    }
    return false;
  }
  void Release() { free_.fetch_add(1); }
  // Whether a place is free now (it may be taken before a TryAcquire).
  bool HasFree() const { return free_.load(std::memory_order_relaxed) > 0; }

 private:
  std::atomic<int> free_;
};

}  // namespace fhirlake::load
