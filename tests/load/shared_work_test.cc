// load::SharedWork: work posted by several threads runs each item exactly once, on the poster
// or on threads that help, and a helping thread stays until every thread that joined has left.
#include "fhirlake/load/shared_work.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace fhirlake::load {
namespace {

TEST(SharedWork, EveryItemRunsOnceWhoeverRunsIt) {
  SharedWork work;
  constexpr int kPosters = 3, kJobs = 40, kItems = 57;
  std::vector<std::atomic<int>> runs(kPosters * kJobs * kItems);
  std::atomic<int> helped{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kPosters; ++p) work.Join();
  for (int p = 0; p < kPosters; ++p) {
    threads.emplace_back([&, p] {
      const auto me = std::this_thread::get_id();
      for (int j = 0; j < kJobs; ++j) {
        const std::function<void(size_t)> item = [&, p, j](size_t i) {
          if (std::this_thread::get_id() != me) ++helped;
          ++runs[static_cast<size_t>((p * kJobs + j) * kItems) + i];
          std::this_thread::yield();
        };
        work.Run(kItems, item);
        // Run returns only when all items of its job have run, on whichever thread.
        for (int i = 0; i < kItems; ++i) ASSERT_EQ(runs[static_cast<size_t>((p * kJobs + j) * kItems + i)].load(), 1);
      }
      work.Leave();
      work.Help();  // stays until the other posters are done, running their items
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < runs.size(); ++i) ASSERT_EQ(runs[i].load(), 1) << i;
  // Not asserted: whether another thread took an item depends on the scheduler.
  std::printf("items run by a thread other than their poster: %d of %zu\n", helped.load(), runs.size());
}

TEST(SharedWork, HelpReturnsOnceAllLeftAndNothingWaits) {
  SharedWork work;
  work.Join();
  std::atomic<bool> returned{false};
  std::thread helper([&] {
    work.Help();
    returned = true;
  });
  std::atomic<int> sum{0};
  const std::function<void(size_t)> add = [&](size_t i) { sum += static_cast<int>(i); };
  work.Run(100, add);
  EXPECT_EQ(sum.load(), 4950);
  EXPECT_FALSE(returned.load()) << "a joined thread has not left: the helper waits";
  work.Leave();
  helper.join();
  EXPECT_TRUE(returned.load());
  EXPECT_FALSE(work.Waiting());
}

// Waits (a bounded time) until `flag` is set; false when it never was.
bool WaitFor(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!flag && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return flag;
}

// A poster whose items are all taken, waiting for one still running on another thread, runs
// other posters' items meanwhile. Here nobody else can: poster A's second item runs on the
// helper until poster C's second item has run, and C is busy with its first item, which waits
// for its second; only A, waiting, is free to run it.
TEST(SharedWork, AWaitingPosterRunsOtherJobsItems) {
  SharedWork work;
  work.Join();  // the helper's
  std::atomic<bool> a1_taken{false}, a_waiting{false}, c1_ran{false};
  std::atomic<bool> a1_ok{false}, c0_ok{false};
  std::thread helper([&] { work.Help(); });
  std::thread poster_a([&] {
    const std::function<void(size_t)> a = [&](size_t i) {
      if (i == 0) {
        // Returns once the helper runs item 1: then A has nothing of its own left to run.
        WaitFor(a1_taken);
        a_waiting = true;
        return;
      }
      a1_taken = true;
      a1_ok = WaitFor(c1_ran);
    };
    work.Run(2, a);
  });
  ASSERT_TRUE(WaitFor(a_waiting));
  const auto me = std::this_thread::get_id();
  std::thread::id c1_thread;
  const std::function<void(size_t)> c = [&](size_t i) {
    if (i == 0) {
      c0_ok = WaitFor(c1_ran);
      return;
    }
    c1_thread = std::this_thread::get_id();
    c1_ran = true;
  };
  work.Run(2, c);
  poster_a.join();
  work.Leave();
  helper.join();
  EXPECT_TRUE(c0_ok.load()) << "nobody ran C's second item while C ran its first";
  EXPECT_TRUE(a1_ok.load());
  EXPECT_NE(c1_thread, me);
}

}  // namespace
}  // namespace fhirlake::load
